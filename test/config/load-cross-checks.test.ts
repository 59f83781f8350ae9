import t from 'tap'
import { accepted, rejected, sha256 } from './load-kit'

// parseConfig's cross-checks: keys against plans, keys against each other, route plans
// (load-kit.ts has the helpers).

const plans = 'plans:\n  free: [ { max: 5, per: 1s } ]\n  pro: [ { max: 50, per: 1s } ]\n'
const a = sha256('key-a')
t.test('a key on an unknown plan', async (t) => {
  t.strictSame(rejected(t, `${plans}keys: [ { name: acme, sha256: "${a}", plan: gold } ]\n`), [
    'keys[0].plan: "gold" is not a plan in plans (free, pro)'
  ])
})

t.test('a key needs exactly one of sha256 and key', async (t) => {
  t.strictSame(rejected(t, `${plans}keys:
  - { name: acme, plan: free }
  - { name: beta, sha256: "${a}", key: key-a, plan: free }
`), ['keys[0]: needs exactly one of sha256 or key', 'keys[1]: needs exactly one of sha256 or key'])
})

t.test('two keys with one name', async (t) => {
  t.strictSame(rejected(t, `${plans}keys:
  - { name: acme, sha256: "${a}", plan: free }
  - { name: acme, sha256: "${sha256('key-b')}", plan: pro }
`), ['keys[1].name: "acme" is used by another key'])
})

t.test('one key listed twice', async (t) => {
  t.strictSame(rejected(t, `${plans}keys:
  - { name: acme, sha256: "${a}", plan: free }
  - { name: beta, sha256: "${a.toUpperCase()}", plan: pro }
`), ['keys[1].sha256: the same key is listed twice'], 'sha256 compared without case')
})

t.test('regression: a clear key and its sha256 are the same key', async (t) => {
  t.strictSame(rejected(t, `${plans}keys:
  - { name: acme, key: key-a, plan: free }
  - { name: beta, sha256: "${a}", plan: pro }
  - { name: gamma, key: key-a, plan: pro }
`), ['keys[1].sha256: the same key is listed twice', 'keys[2].key: the same key is listed twice'])
})

t.test('reserved names', async (t) => {
  t.strictSame(rejected(t, `${plans}keys:
  - { name: anonymous, sha256: "${a}", plan: free }
  - { name: unknown, key: key-b, plan: free }
`), ['keys[0].name: "anonymous" is reserved', 'keys[1].name: "unknown" is reserved'])
})

t.test('route plans must be plans', async (t) => {
  t.strictSame(rejected(t, `${plans}routes:
  - { match: "POST /v1/search", plans: { free: [ { max: 1, per: 10s } ], gold: [ { max: 1, per: 1s } ] } }
`), ['routes[0].plans.gold: "gold" is not a plan in plans'])
})

t.test('a valid set of keys and routes passes', async (t) => {
  const config = accepted(t, `${plans}keys:
  - { name: acme, sha256: "${a}", plan: pro }
  - { name: demo, key: demo-key, plan: free }
routes:
  - { match: "GET /healthz", limit: false }
  - { match: "POST /v1/upload/*", cost: 10 }
  - { match: "POST /v1/search", plans: { free: [ { max: 1, per: 10s } ] } }
`)
  t.equal(config.keys.length, 2)
  t.strictSame(config.routes[2]?.plans, { free: [{ max: 1, per: '10s' }] })
})
