import t from 'tap'
import { parseConfig } from '../../src/config'
import { compilePolicy, type Policy } from '../../src/limits/policy'

// Which rule a (method, normalised path) pair gets: the spellings of one resource that
// apps route to one handler must get one rule.

function policy (routes: string): Policy {
  const parsed = parseConfig(`plans: { free: [ { max: 10, per: 1s } ] }\nroutes:\n${routes}`, {}, 'policy.yml')
  if (!parsed.ok) throw new Error(parsed.errors.join('\n'))
  return compilePolicy(parsed.config)
}

const label = (p: Policy, method: string, path: string): string => p.route(method, path)?.label ?? 'none'

t.test('HEAD matches a GET rule, and only a GET rule', async (t) => {
  const p = policy('  - { match: "GET /expensive", cost: 5 }\n  - { match: "POST /expensive", cost: 7 }')
  t.equal(label(p, 'HEAD', '/expensive'), 'GET /expensive')
  t.equal(label(p, 'GET', '/expensive'), 'GET /expensive')
  t.equal(label(p, 'POST', '/expensive'), 'POST /expensive')
  t.equal(label(p, 'PUT', '/expensive'), 'none')
  const head = policy('  - { match: "HEAD /probe", limit: false }')
  t.equal(label(head, 'GET', '/probe'), 'none', 'a HEAD rule does not take GET with it')
})

t.test('a method from a header is matched in any case', async (t) => {
  const p = policy('  - { match: "GET /expensive", cost: 5 }')
  t.equal(label(p, 'get', '/expensive'), 'GET /expensive')
  t.equal(label(p, 'Get', '/expensive'), 'GET /expensive')
  t.equal(label(p, 'head', '/expensive'), 'GET /expensive')
})

t.test('letter case and one trailing slash do not leave a rule', async (t) => {
  const p = policy('  - { match: "GET /expensive", cost: 5 }\n  - { match: "/v1/reports/", cost: 3 }')
  for (const path of ['/expensive', '/EXPENSIVE', '/Expensive/', '/expensive/']) t.equal(label(p, 'GET', path), 'GET /expensive', path)
  t.equal(label(p, 'GET', '/expensive//'), 'none', 'the path is normalised first: // never reaches a rule')
  t.equal(label(p, 'GET', '/expensivex'), 'none')
  t.equal(label(p, 'GET', '/expensive/x'), 'none')
  t.equal(label(p, 'POST', '/v1/reports'), '/v1/reports/', 'a rule written with a slash matches without one')
  t.equal(label(p, 'POST', '/v1/REPORTS/'), '/v1/reports/')
})

t.test('* patterns: a prefix, the root, any path', async (t) => {
  const p = policy('  - { match: "POST /upload/*", cost: 10 }\n  - { match: "GET /", limit: false }\n  - { match: "* /any/*", cost: 2 }')
  t.equal(label(p, 'POST', '/upload/a/b'), 'POST /upload/*')
  t.equal(label(p, 'POST', '/UPLOAD/a'), 'POST /upload/*')
  t.equal(label(p, 'POST', '/upload/'), 'POST /upload/*')
  t.equal(label(p, 'POST', '/upload'), 'none', '/upload is not under /upload/')
  t.equal(label(p, 'GET', '/'), 'GET /')
  t.equal(label(p, 'GET', '/x'), 'none', '/ is only the root')
  t.equal(label(p, 'DELETE', '/any/thing'), '* /any/*', '"*" is any method')
  t.equal(label(p, 'HEAD', '/ANY/thing'), '* /any/*')
})

t.test('a rule is normalised like the paths it matches', async (t) => {
  const p = policy('  - { match: "GET /v1//%7Euser/./a", cost: 4 }\n  - { match: "GET /caf%c3%a9", cost: 2 }')
  t.equal(label(p, 'GET', '/v1/~user/a'), 'GET /v1//%7Euser/./a')
  t.equal(label(p, 'GET', '/caf%C3%A9'), 'GET /caf%c3%a9')
})
