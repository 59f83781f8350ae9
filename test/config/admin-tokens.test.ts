import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { parseConfig } from '../../src/config'
import { startTollgate } from '../helpers/child'
import { runCli } from '../helpers/run-cli'
import { send } from '../helpers/http'

// Two admin tokens with one name would make the audit trail's "who" ambiguous; one
// token under two names names two people for one secret. Both are refused, by
// check-config and on reload, naming the path and never the token.

const PLANS = 'plans: { free: [ { max: 5, per: 1s } ] }\n'
const OPS_A = 'ops-token-aaaa-0123456789'
const OPS_B = 'ops-token-bbbb-0123456789'
const SHARED = 'shared-token-cccc-0123456789'
const tokens = (...entries: Array<[string, string]>): string =>
  `admin:\n  token:\n${entries.map(([name, token]) => `    - { name: ${name}, token: ${token} }\n`).join('')}`

function errors (yaml: string): string[] {
  const result = parseConfig(`${PLANS}${yaml}`, {}, 'test.yml')
  return result.ok ? [] : result.errors
}

t.test('a name or a token used twice is refused with its path; the token is never shown', async (t) => {
  t.strictSame(errors(tokens(['ops', OPS_A], ['ops', OPS_B])), ['admin.token[1].name: "ops" is used by another token'])
  t.strictSame(errors(tokens(['alice', SHARED], ['bob', OPS_A], ['carol', SHARED])), [
    'admin.token[2].token: (value hidden) is the token of another entry: each name needs its own token'
  ])
  const both = errors(tokens(['ops', SHARED], ['ci', OPS_A], ['ops', SHARED]))
  t.strictSame(both, [
    'admin.token[2].name: "ops" is used by another token',
    'admin.token[2].token: (value hidden) is the token of another entry: each name needs its own token'
  ])
  t.notOk(both.join('\n').includes(SHARED), 'the token is not in the error')
  t.strictSame(errors(tokens(['ops', OPS_A], ['ci', OPS_B])), [], 'distinct names and tokens')
  t.strictSame(errors(`admin: { token: ${OPS_A} }\n`), [], 'the single-string form')
  // With another error in the file, this one is still reported: every error at once.
  t.strictSame(errors(`${tokens(['ops', OPS_A], ['ops', OPS_B])}keys: [ { name: acme, key: acme-key-1, plan: gold } ]\n`), [
    'keys[0].plan: "gold" is not a plan in plans (free)',
    'admin.token[1].name: "ops" is used by another token'
  ])
})

t.test('check-config exits 1 with the path and without the tokens', async (t) => {
  const dir = t.testdir({ 'config.yml': `${PLANS}${tokens(['ops', SHARED], ['ops', SHARED])}` })
  const result = await runCli(['check-config', join(dir, 'config.yml')])
  t.equal(result.code, 1)
  const output = result.stdout + result.stderr
  t.match(output, 'admin.token[1].name: "ops" is used by another token')
  t.match(output, 'admin.token[1].token: (value hidden) is the token of another entry')
  t.notOk(output.includes(SHARED), 'the token is not in the output')
})

t.test('a reload to duplicate names is refused; the old tokens keep working', async (t) => {
  const good = `listen: { proxy: 127.0.0.1:0, admin: 127.0.0.1:0 }\nshutdown: { drain_delay: 0s, grace: 1s }\n${PLANS}${tokens(['ops', OPS_A], ['ci', OPS_B])}`
  const g = await startTollgate(t, { configYaml: good })
  await writeFile(g.configPath, good.replace('name: ci', 'name: ops'))
  const reload = await send('POST', `${g.adminUrl}/-/reload`, { authorization: `Bearer ${OPS_A}` })
  t.equal(reload.status, 400)
  t.match(reload.body, 'admin.token[1].name: \\"ops\\" is used by another token')
  t.notOk(reload.body.includes(OPS_A) || reload.body.includes(OPS_B), 'no token in the answer')
  await g.waitForLog((l) => JSON.stringify(l).includes('is used by another token'))
  t.notOk(g.stdout().includes(OPS_B) || g.stdout().includes(OPS_A), 'no token in the log')
  // The file is still the refused one: the config in force is the old one, ci's token included.
  const ci = await send('POST', `${g.adminUrl}/-/reload`, { authorization: `Bearer ${OPS_B}` })
  t.equal(ci.status, 400, 'ci\'s token is still accepted (400 is the file again, not 401)')
})
