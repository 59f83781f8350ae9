import t from 'tap'
import { parseConfig } from '../../src/config'
import { PLANS, sha256, SOURCE } from './load-kit'

// Secrets in parseConfig: a clear-text key warns without repeating it, and no error
// quotes a secret value (load-kit.ts has the helpers).

t.test('clear-text keys are accepted with a warning that does not repeat the key', async (t) => {
  const result = parseConfig(`${PLANS}keys:
  - { name: demo, key: demo-secret-key, plan: free }
  - { name: acme, sha256: "${sha256('acme-key')}", plan: free }
`, {}, SOURCE)
  if (!result.ok) throw new Error(result.errors.join('\n'))
  t.strictSame(result.warnings, ['key "demo" is in clear text in the config; store its sha256 instead (tollgate hash-key)'])
  t.notMatch(result.warnings.join('\n'), 'demo-secret-key')

  const hashed = parseConfig(`${PLANS}keys: [ { name: acme, sha256: "${sha256('acme-key')}", plan: free } ]\n`, {}, SOURCE)
  t.strictSame(hashed.ok && hashed.warnings, [], 'no warning when every key is a digest')
})

t.test('a secret value is never quoted in an error: a bad clear key, a bad Redis URL with its password', async (t) => {
  const result = parseConfig(`${PLANS}redis: "http://:hunter2@cache:6379"\nkeys: [ { name: acme, key: "sk live spaces", plan: free } ]\n`, {}, SOURCE)
  t.equal(result.ok, false)
  const errors = result.ok ? [] : result.errors
  t.ok(errors.includes('redis.url: (value hidden) must be a redis:// or rediss:// URL'), errors.join('\n'))
  t.ok(errors.includes('keys[0].key: (value hidden) must be 1 to 256 visible ASCII characters, no comma'), errors.join('\n'))
  t.notMatch(errors.join('\n'), /hunter2|sk live/)
})
