import t from 'tap'
import { accepted, NOT_A_DURATION, PLANS, rejected } from './load-kit'

// parseConfig's schema errors: unknown keys, required plans, ports, enums, trust_proxy,
// names, and every error of a file at once (load-kit.ts has the helpers).

t.test('unknown keys are errors, at any depth', async (t) => {
  t.strictSame(rejected(t, `${PLANS}bogus: 1\n`), ['bogus: is not a known key'])
  t.strictSame(rejected(t, 'plans:\n  free: [ { max: 5, per: 1s }, { maxx: 5, max: 1, per: 1s } ]\n'), ['plans.free[1].maxx: is not a known key'])
  t.strictSame(rejected(t, `${PLANS}listen: { proxy: "127.0.0.1:1", publik: "0.0.0.0:1" }\n`), ['listen.publik: is not a known key'])
  t.strictSame(rejected(t, `${PLANS}api_key: { headers: x-key }\n`), ['api_key.headers: is not a known key'])
  t.strictSame(rejected(t, `${PLANS}keys: [ { name: a, key: k, plan: free, tier: pro } ]\n`), ['keys[0].tier: is not a known key'])
  t.strictSame(rejected(t, `${PLANS}routes: [ { match: "/x", limits: false } ]\n`), ['routes[0].limits: is not a known key'])
  t.strictSame(rejected(t, `${PLANS}shutdown: { grace: 1s, drain: 1s }\n`), ['shutdown.drain: is not a known key'])
})

t.test('plans is required and not empty', async (t) => {
  t.strictSame(rejected(t, 'shadow: true\n'), ['plans: is required'])
  const empty = rejected(t, 'plans: {}\n')
  t.equal(empty.length, 1)
  t.match(empty[0], /^plans: /)
  const noWindow = rejected(t, 'plans:\n  free: []\n')
  t.equal(noWindow.length, 1)
  t.match(noWindow[0], /^plans\.free: \[\] /, 'a plan needs a window')
})

t.test('every error in a file is reported at once', async (t) => {
  const errors = rejected(t, `listen:
  proxy: nowhere
upstream: ftp://app
on_redis_error: maybe
plans:
  free: [ { max: 0, per: 1s }, { max: 5, per: 1x } ]
keys:
  - { name: acme, sha256: abc, plan: free }
  - { name: demo, key: demo-key, plan: gold }
bogus: 1
shadow: yes
`)
  t.strictSame(errors, [
    'bogus: is not a known key',
    'listen.proxy: "nowhere" must be HOST:PORT, e.g. 0.0.0.0:8080',
    'upstream.url: "ftp://app" must be an http:// or https:// URL',
    'on_redis_error: "maybe" must be one of allow, deny, local',
    'plans.free[0].max: 0 must be at least 1',
    `plans.free[1].per: "1x" ${NOT_A_DURATION}`,
    'keys[0].sha256: "abc" is not 64 hex characters (use `tollgate hash-key KEY`)',
    'shadow: "yes" must be boolean',
    // A cross-check, reported in the same pass as the schema's errors.
    'keys[1].plan: "gold" is not a plan in plans (free)'
  ])
})

t.test('a port above 65535 is refused before listen() would throw', async (t) => {
  t.strictSame(rejected(t, `${PLANS}listen: { proxy: "127.0.0.1:8080", admin: "127.0.0.1:99999" }\n`), [
    'listen.admin: "127.0.0.1:99999" has a port above 65535'
  ])
  t.strictSame(accepted(t, `${PLANS}listen: { proxy: "[::1]:65535", admin: ":0" }\n`).listen, { proxy: '[::1]:65535', admin: ':0' })
})

t.test('enum errors list the choices', async (t) => {
  t.strictSame(rejected(t, `${PLANS}on_redis_error: maybe\n`), ['on_redis_error: "maybe" must be one of allow, deny, local'])
  t.strictSame(rejected(t, `${PLANS}algorithm: leaky\n`), ['algorithm: "leaky" must be one of gcra, sliding, fixed'])
  t.strictSame(rejected(t, 'plans:\n  free: [ { max: 5, per: 1s, algorithm: leaky } ]\n'), ['plans.free[0].algorithm: "leaky" must be one of gcra, sliding, fixed'])
  t.strictSame(rejected(t, `${PLANS}log_level: loud\n`), ['log_level: "loud" must be one of fatal, error, warn, info, debug, trace, silent'])
  t.strictSame(rejected(t, `${PLANS}api_key: { unknown: allow }\n`), ['api_key.unknown: "allow" must be one of reject, anonymous'])
  for (const choice of ['allow', 'deny', 'local']) {
    t.equal(accepted(t, `${PLANS}on_redis_error: ${choice}\n`).on_redis_error, choice)
  }
})

t.test('trust_proxy', async (t) => {
  t.equal(accepted(t, `${PLANS}trust_proxy: true\n`).trust_proxy, true)
  t.equal(accepted(t, `${PLANS}trust_proxy: false\n`).trust_proxy, false)
  t.strictSame(accepted(t, `${PLANS}trust_proxy: [ 10.0.0.0/8, "::1", 192.168.1.7, loopback ]\n`).trust_proxy, ['10.0.0.0/8', '::1', '192.168.1.7', 'loopback'])

  const choices = 'must be true, false or a list of addresses / CIDR ranges'
  t.strictSame(rejected(t, `${PLANS}trust_proxy: yes\n`), [`trust_proxy: "yes" ${choices}`], 'YAML 1.2: yes is a string')
  t.strictSame(rejected(t, `${PLANS}trust_proxy: 1\n`), [`trust_proxy: 1 ${choices}`])
  t.strictSame(rejected(t, `${PLANS}trust_proxy: 10.0.0.0/8\n`), [`trust_proxy: "10.0.0.0/8" ${choices}`], 'one address still needs a list')
  t.strictSame(rejected(t, `${PLANS}trust_proxy: [ 10.0.0.1/33, lb.internal ]\n`), [
    'trust_proxy[0]: "10.0.0.1/33" is not an IP address, a CIDR range, loopback, linklocal or uniquelocal',
    'trust_proxy[1]: "lb.internal" is not an IP address, a CIDR range, loopback, linklocal or uniquelocal'
  ])
})

t.test('a plan name outside the name pattern is an error, and its windows are still checked', async (t) => {
  // Regression: TypeBox's Record only sets patternProperties, so such a plan passed
  // with its windows unchecked (max: 0 reached the store and failed every request).
  const errors = rejected(t, 'plans:\n  "bad name": [ { max: 0, per: 1s } ]\n  ok: [ { max: 1, per: 1s } ]\n')
  t.match(errors, [/^plans\.bad name: is not a valid name \(it must match /])
})
