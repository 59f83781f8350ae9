import { createHash } from 'node:crypto'
import t from 'tap'
import type { Test } from 'tap'
import { diffConfig, parseConfig, RESTART_ONLY, type Config } from '../../src/config'
import { isEmptyChange } from '../../src/config/diff'

// Pure tests of `diffConfig(before, after)`: what a reload's log line says changed, by
// name only. Configs come from real YAML through `parseConfig`, defaults filled in.

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex')
const ACME_KEY = 'acme-diff-key-3c1e'
const DEMO_KEY = 'demo-diff-key-88aa'

const BASE = `plans:
  free: [ { max: 5, per: 1s } ]
  pro: [ { max: 100, per: 1s } ]
keys:
  - { name: acme, sha256: "${sha256(ACME_KEY)}", plan: pro }
  - { name: demo, key: ${DEMO_KEY}, plan: free }
routes:
  - { match: "GET /healthz", limit: false }
  - { match: "POST /upload/*", cost: 10 }
`

function config (t: Test, text: string): Config {
  const result = parseConfig(text, {}, 'diff.yml')
  if (!result.ok) {
    t.fail(`expected the config to be accepted, got:\n${result.errors.join('\n')}`)
    throw new Error('config rejected')
  }
  return result.config
}

const NONE = { added: [], removed: [], changed: [] }

t.test('the same config is an empty change', async (t) => {
  const changes = diffConfig(config(t, BASE), config(t, BASE))
  t.strictSame(changes, { plans: NONE, keys: NONE, routes: NONE, settings: [] })
  t.ok(isEmptyChange(changes))
})

t.test('a default written out is no change: the diff compares values, not text', async (t) => {
  const changes = diffConfig(config(t, BASE), config(t, `${BASE}log_level: info\nshadow: false\napi_key: { header: x-api-key }\n`))
  t.ok(isEmptyChange(changes), JSON.stringify(changes))
})

t.test('plans: added, removed and changed by name', async (t) => {
  const after = BASE
    .replace('free: [ { max: 5, per: 1s } ]', 'free: [ { max: 6, per: 1s } ]')
    .replace('  pro: [ { max: 100, per: 1s } ]\n', '  gold: [ { max: 1000, per: 1s } ]\n')
    .replace(/plan: pro/, 'plan: gold')
  const changes = diffConfig(config(t, BASE), config(t, after))
  t.strictSame(changes.plans, { added: ['gold'], removed: ['pro'], changed: ['free'] })
  t.strictSame(changes.keys, { added: [], removed: [], changed: ['acme'] }, 'a key moved to another plan is changed')
})

t.test('a window\'s algorithm alone is a plan change', async (t) => {
  const changes = diffConfig(config(t, BASE), config(t, BASE.replace('{ max: 5, per: 1s }', '{ max: 5, per: 1s, algorithm: fixed }')))
  t.strictSame(changes.plans.changed, ['free'])
})

t.test('keys by name: a new digest is "changed", and no key material reaches the diff', async (t) => {
  const rotated = BASE
    .replace(sha256(ACME_KEY), sha256('acme-rotated-key'))
    .replace(`  - { name: demo, key: ${DEMO_KEY}, plan: free }\n`, '  - { name: zed, key: zed-key-1, plan: free }\n')
  const changes = diffConfig(config(t, BASE), config(t, rotated))
  t.strictSame(changes.keys, { added: ['zed'], removed: ['demo'], changed: ['acme'] })
  const text = JSON.stringify(changes)
  for (const secret of [ACME_KEY, DEMO_KEY, sha256(ACME_KEY), sha256('acme-rotated-key'), 'zed-key-1', sha256(DEMO_KEY)]) {
    t.notOk(text.includes(secret), `the diff does not carry ${secret.slice(0, 10)}...`)
  }
})

t.test('a key whose digest is written in upper case instead is still "changed"', async (t) => {
  // The text changed, so the file is reloaded; the diff reports what differs as written.
  const changes = diffConfig(config(t, BASE), config(t, BASE.replace(sha256(ACME_KEY), sha256(ACME_KEY).toUpperCase())))
  t.strictSame(changes.keys.changed, ['acme'])
})

t.test('routes by match: cost, limit and own windows', async (t) => {
  const after = BASE
    .replace('{ match: "GET /healthz", limit: false }', '{ match: "GET /healthz", limit: true }')
    .replace('{ match: "POST /upload/*", cost: 10 }', '{ match: "POST /v2/upload/*", cost: 10 }')
  const changes = diffConfig(config(t, BASE), config(t, after))
  t.strictSame(changes.routes, { added: ['POST /v2/upload/*'], removed: ['POST /upload/*'], changed: ['GET /healthz'] })
  const cost = diffConfig(config(t, BASE), config(t, BASE.replace('cost: 10', 'cost: 11')))
  t.strictSame(cost.routes.changed, ['POST /upload/*'])
  const own = diffConfig(config(t, BASE), config(t, BASE.replace('cost: 10 }', 'cost: 10, plans: { free: [ { max: 1, per: 1m } ] } }')))
  t.strictSame(own.routes.changed, ['POST /upload/*'])
})

t.test('settings: every other top-level key whose value changed, by name only', async (t) => {
  const after = `${BASE}log_level: warn
trust_proxy: [ 10.0.0.0/8 ]
api_key: { header: x-tenant-key }
redis: "redis://:s3cret-pw@cache:6379"
shadow: true
`
  const changes = diffConfig(config(t, BASE), config(t, after))
  t.strictSame([...changes.settings].sort(), ['api_key', 'log_level', 'redis', 'shadow', 'trust_proxy'])
  t.notOk(JSON.stringify(changes).includes('s3cret-pw'), 'the Redis password is not in the diff')
  t.ok(isEmptyChange({ ...changes, settings: [] }), 'plans, keys and routes are untouched')
})

t.test('removing a setting is a change of that setting', async (t) => {
  const changes = diffConfig(config(t, `${BASE}redis: redis://cache:6379\n`), config(t, BASE))
  t.strictSame(changes.settings, ['redis'])
})

t.test('listen and upstream are the settings that need a restart', async (t) => {
  t.strictSame([...RESTART_ONLY], ['listen', 'upstream'])
  const changes = diffConfig(config(t, `${BASE}upstream: http://127.0.0.1:3000\n`), config(t, `${BASE}upstream: http://127.0.0.1:3001\nlisten: { proxy: 127.0.0.1:1 }\n`))
  t.strictSame([...changes.settings].sort(), ['listen', 'upstream'], 'diffConfig reports them; LiveConfig keeps the running values')
})

t.test('isEmptyChange sees a change in any one section', async (t) => {
  const one = ['x']
  for (const section of ['plans', 'keys', 'routes'] as const) {
    for (const kind of ['added', 'removed', 'changed'] as const) {
      const changes = { plans: NONE, keys: NONE, routes: NONE, settings: [], [section]: { ...NONE, [kind]: one } }
      t.notOk(isEmptyChange(changes), `${section}.${kind}`)
    }
  }
  t.notOk(isEmptyChange({ plans: NONE, keys: NONE, routes: NONE, settings: ['shadow'] }), 'settings')
})
