import t from 'tap'
import { adminTokens, parseConfig } from '../../src/config'

// `admin.token` takes one token or a list of named ones; either way no error shows a token.

const PLANS = 'plans: { free: [ { max: 5, per: 1s } ] }\n'

t.test('a single token is named admin; a list keeps its names', async (t) => {
  const single = parseConfig(`${PLANS}admin: { token: abcdefghijklmnop1234 }`, {}, 'a.yml')
  t.ok(single.ok)
  if (single.ok) t.same(adminTokens(single.config.admin), [{ name: 'admin', token: 'abcdefghijklmnop1234' }])
  const list = parseConfig(`${PLANS}admin:\n  token:\n    - { name: alice, token: alice-token-0123456789 }\n    - { name: ci-bot, token: "\${BOT}" }\n`, { BOT: 'bot-token-9876543210' }, 'a.yml')
  t.ok(list.ok, list.ok ? '' : list.errors.join('\n'))
  if (list.ok) t.same(adminTokens(list.config.admin).map((x) => x.name), ['alice', 'ci-bot'])
  const none = parseConfig(PLANS, {}, 'a.yml')
  if (none.ok) t.same(adminTokens(none.config.admin), [])
})

t.test('a bad token, in either form, is refused without showing it', async (t) => {
  for (const yaml of [
    'admin: { token: short-secret }',
    'admin: { token: [ { name: alice, token: short-secret } ] }',
    'admin: { token: [] }',
    'admin: { token: [ { name: "bad name", token: long-enough-secret-0123 } ] }',
    'admin: { token: [ { name: alice, token: long-enough-secret-0123, role: root } ] }'
  ]) {
    const parsed = parseConfig(`${PLANS}${yaml}`, {}, 'a.yml')
    t.notOk(parsed.ok, yaml)
    if (parsed.ok) continue
    const text = parsed.errors.join('\n')
    t.match(text, /^admin\.token: \(value hidden\) must be one token of 16 to 1024 visible ASCII characters.*or a list of 1 to 64 `\{ name, token \}`/m, yaml.replace(/secret[-0-9]*/, '<token>'))
    t.notOk(/short-secret|long-enough-secret/.test(text), 'the token is not in the error')
  }
})
