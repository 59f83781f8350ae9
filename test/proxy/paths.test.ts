import t from 'tap'
import type { Test } from 'tap'
import { inProcess, type InProcess } from '../helpers/app'
import { parseSamples, valueOf } from '../helpers/metrics'
import { rawExchange, type RawResponse } from '../helpers/raw'
import { startUpstream, type Upstream } from '../helpers/upstream'

/*
 * Route rules cannot be dodged by respelling a path (issue 9, finding 1): with the
 * issue's own rules, every bypass it reported, and the rest of their class, is now
 * limited, charged or refused, and the app receives the path the rule was matched on.
 * Raw request targets need a raw socket: HTTP clients normalise them before sending.
 */

const RULES = `
plans:
  free: [ { max: 100, per: 1m } ]
keys:
  - { name: acme, key: acme-key, plan: free }
  - { name: beta, key: beta-key, plan: free }
routes:
  - { match: "GET /expensive", plans: { free: [ { max: 2, per: 1m } ] } }
  - { match: "POST /upload/*", cost: 10 }
  - { match: "GET /public/*", limit: false }
`

async function setUp (t: Test): Promise<{ app: InProcess, upstream: Upstream }> {
  const upstream = await startUpstream(t)
  const app = await inProcess(t, `upstream: ${upstream.url}\n${RULES}`)
  return { app, upstream }
}

/** One request with `target` written as is on the request line. */
async function raw (app: InProcess, method: string, target: string, headers: Record<string, string> = {}): Promise<RawResponse> {
  const lines = [`${method} ${target} HTTP/1.1`, 'host: x', 'connection: close', 'content-length: 0',
    ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`)]
  return await rawExchange(app.proxyPort, `${lines.join('\r\n')}\r\n\r\n`)
}

const ACME = { 'x-api-key': 'acme-key' }
const BETA = { 'x-api-key': 'beta-key' }

t.test('after /expensive answered 429, no other spelling of it gets through', async (t) => {
  const { app, upstream } = await setUp(t)
  t.same([(await raw(app, 'GET', '/expensive', ACME)).status, (await raw(app, 'GET', '/expensive', ACME)).status], [200, 200])
  t.equal((await raw(app, 'GET', '/expensive', ACME)).status, 429, 'the route window is spent')
  const spellings: Array<[string, string]> = [
    ['GET', 'http://x/expensive'], ['GET', 'HTTP://X/expensive'], ['GET', '/./expensive'], ['HEAD', '/expensive'],
    ['GET', '//expensive'], ['GET', '/%65xpensive'], ['GET', '/expensive/'], ['GET', '/EXPENSIVE'],
    ['GET', '/x/../expensive'], ['GET', '/expensive?cache=bust'], ['GET', '/%2e/expensive']
  ]
  for (const [method, target] of spellings) {
    const res = await raw(app, method, target, ACME)
    t.equal(res.status, 429, `${method} ${target}`)
    t.match(res.headers['ratelimit-policy'], /"free GET \/expensive-1m";q=2;w=60/, `${method} ${target} is under the route's window`)
  }
  t.equal(upstream.requests.length, 2, 'only the two allowed requests reached the app')
})

t.test('an upload is charged its cost however its path is spelled', async (t) => {
  const { app, upstream } = await setUp(t)
  const remaining: string[] = []
  for (const target of ['/upload/a', 'http://x/upload/a', '//upload/a', '/upload//a', '/./upload/a', '/Upload/a']) {
    const res = await raw(app, 'POST', target, BETA)
    t.equal(res.status, 200, target)
    remaining.push(res.headers['x-ratelimit-remaining'] ?? 'none')
  }
  t.same(remaining, ['90', '80', '70', '60', '50', '40'], 'each one cost 10')
  t.same(upstream.requests.map((r) => r.url), ['/upload/a', '/upload/a', '/upload/a', '/upload/a', '/upload/a', '/Upload/a'],
    'the app got the normalised path (case is the app\'s)')
})

t.test('a limit: false prefix is no way around identity', async (t) => {
  const { app, upstream } = await setUp(t)
  t.equal((await raw(app, 'GET', '/public/logo.png')).status, 200, 'the exempt route itself needs no key')
  for (const target of ['/public/../expensive', '/public/%2e%2e/expensive', '/public/%2E%2E/expensive',
    '/public/.%2e/expensive', '/public/%2e./expensive', '/public//../expensive', 'http://x/public/../expensive',
    '/public/a/../../expensive', '/public/./../expensive']) {
    const res = await raw(app, 'GET', target)
    t.equal(res.status, 401, target)
    t.match(JSON.parse(res.body), { error: 'api_key_required' }, target)
  }
  t.same(upstream.requests.map((r) => r.url), ['/public/logo.png'], 'nothing else reached the app')
})

t.test('what cannot be normalised safely is a 400, never forwarded', async (t) => {
  const { app, upstream } = await setUp(t)
  const targets = [
    '/public/..%2fexpensive', '/public/..%2Fexpensive', '/public%2f..%2fexpensive', '/public/..%5cexpensive',
    '/public\\..\\expensive', '/public/%252e%252e/expensive', '/public/%25%32%65%25%32%65/expensive',
    '/public/..;/expensive', '/public/.;/expensive', '/../expensive', '/public/../../expensive',
    '/expensive#/../public/x', '/public/x%00.png', '*'
  ]
  for (const target of targets) {
    const res = await raw(app, 'GET', target, ACME)
    t.equal(res.status, 400, target)
    const body = JSON.parse(res.body) as Record<string, unknown>
    t.equal(body.error, 'invalid_path', `${target} ${res.body}`)
    t.type(body.reason, 'string', `${target}: the body says why`)
  }
  t.equal(upstream.requests.length, 0, 'none reached the app')
  const samples = parseSamples(await app.metricsText())
  t.equal(valueOf(samples, 'tollgate_http_requests_total', { listener: 'proxy', method: 'GET', route: 'malformed', status_code: 400 }), targets.length,
    'counted as route="malformed"')
  t.equal(valueOf(samples, 'tollgate_ratelimit_decisions_total', { client: 'acme', plan: 'free', decision: 'allowed' }), undefined, 'nothing spent')
})

t.test('the app receives the path that was checked, with the query string as sent', async (t) => {
  const { app, upstream } = await setUp(t)
  const cases: Array<[string, string]> = [
    ['/public/./a//b/%7Euser?x=%2e%2e/..&y=%7e', '/public/a/b/~user?x=%2e%2e/..&y=%7e'],
    ['http://elsewhere:81/public/%61?q', '/public/a?q'],
    ['/public/x/%2e%2e/caf%c3%a9', '/public/caf%C3%A9'],
    ['/public/100%25', '/public/100%25'],
    ['/public/a/..', '/public/']
  ]
  for (const [target, expected] of cases) {
    const res = await raw(app, 'GET', target)
    t.equal(res.status, 200, target)
    t.equal(upstream.requests.at(-1)?.url, expected, target)
  }
})

t.test('the access log names the normalised route; the raw target stays out of metrics', async (t) => {
  const { app } = await setUp(t)
  await raw(app, 'GET', '/public/../expensive', ACME)
  const samples = parseSamples(await app.metricsText())
  t.equal(valueOf(samples, 'tollgate_http_requests_total', { listener: 'proxy', method: 'GET', route: 'GET /expensive', status_code: 200 }), 1)
  const line = app.logs.find((l) => l.msg === 'request')
  t.match(line, { route: 'GET /expensive', client: 'acme', status: 200 })
})

t.test('a method override cannot move a request to another rule', async (t) => {
  const { app, upstream } = await setUp(t)
  // POST /expensive matches no rule; an app honouring the override serves the GET.
  for (const header of ['x-http-method-override', 'x-http-method', 'x-method-override']) {
    const res = await raw(app, 'POST', '/expensive', { ...ACME, [header]: 'GET' })
    t.equal(res.status, 400, header)
    t.match(JSON.parse(res.body), { error: 'bad_request', message: /must name one method/ }, header)
  }
  // And the other way: GET /expensive (route window) dressed as a POST for the app.
  t.equal((await raw(app, 'GET', '/expensive', { ...ACME, 'x-http-method-override': 'post' })).status, 400)
  t.equal((await raw(app, 'POST', '/other', { ...ACME, 'x-http-method-override': 'GET', 'x-http-method': 'PUT' })).status, 400,
    'two overrides that disagree: the app reads one of them')
  t.equal(upstream.requests.length, 0)
  // An override that stays under the same rule is the app's business.
  t.equal((await raw(app, 'POST', '/other', { ...ACME, 'x-http-method-override': 'PATCH' })).status, 200)
  t.equal((await raw(app, 'HEAD', '/expensive', { ...ACME, 'x-http-method-override': 'GET' })).status, 200)
})

t.test('IIS path overrides from the client never reach the app', async (t) => {
  const { app, upstream } = await setUp(t)
  const res = await raw(app, 'GET', '/public/logo.png', { 'x-original-url': '/expensive', 'x-rewrite-url': '/expensive' })
  t.equal(res.status, 200)
  t.equal(upstream.requests[0]?.headers['x-original-url'], undefined)
  t.equal(upstream.requests[0]?.headers['x-rewrite-url'], undefined)
})
