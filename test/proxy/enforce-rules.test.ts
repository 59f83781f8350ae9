import t from 'tap'
import { get, send } from '../helpers/http'
import { stack, forwarded } from '../helpers/stack'

// Plans with several windows, route rules (cost, own windows, limit: false), shadow mode.

t.test('multi-window plans, route cost, route windows and limit: false', async (t) => {
  const { upstream, tollgate } = await stack(t, (up, redis) => `
upstream: ${up}
redis: ${redis}
plans:
  free: [ { max: 4, per: 1m }, { max: 6, per: 1d, algorithm: fixed } ]
keys: [ { name: acme, key: acme-key, plan: free }, { name: beta, key: beta-key, plan: free } ]
routes:
  - { match: "GET /healthz", limit: false }
  - { match: "POST /upload/*", cost: 3 }
  - { match: "/search", plans: { free: [ { max: 1, per: 1m } ] } }`)
  const key = { 'x-api-key': 'acme-key' }
  const first = await get(`${tollgate.proxyUrl}/a`, key)
  t.equal(first.headers['ratelimit-policy'], '"free-1m";q=4;w=60, "free-1d";q=6;w=86400')
  t.equal(first.headers.ratelimit?.toString().startsWith('"free-1m";r=3;'), true, 'binding is the window with the least left')

  // cost 3: 1 + 3 = 4 spent in the minute window; the next cost-3 upload does not fit.
  t.equal((await send('POST', `${tollgate.proxyUrl}/upload/x`, key, 'data')).status, 200)
  const refused = await send('POST', `${tollgate.proxyUrl}/upload/y`, key, 'data')
  t.equal(refused.status, 429, 'cost is spent in every window')
  t.equal(forwarded(upstream, '/upload'), 1)

  // limit: false: no key needed, no headers, nothing spent.
  const health = await get(`${tollgate.proxyUrl}/healthz`)
  t.equal(health.status, 200)
  t.equal(health.headers['ratelimit-policy'], undefined)

  // Route windows are added to the plan's: /search allows 1 per minute for free.
  const beta = { 'x-api-key': 'beta-key' }
  const search1 = await get(`${tollgate.proxyUrl}/search`, beta)
  t.equal(search1.status, 200)
  t.match(search1.headers['ratelimit-policy'], /"free \/search-1m";q=1;w=60/)
  t.equal((await get(`${tollgate.proxyUrl}/search`, beta)).status, 429, 'route window refuses')
  t.equal((await get(`${tollgate.proxyUrl}/other`, beta)).status, 200, 'plan windows still allow other paths')
  // The daily window counted 2 requests of beta's: 6 - 2 = 4 left there.
})

t.test('the daily quota binds even when the route would allow', async (t) => {
  const { tollgate } = await stack(t, (up, redis) => `
upstream: ${up}
redis: ${redis}
plans: { free: [ { max: 2, per: 1d, algorithm: fixed } ] }
keys: [ { name: acme, key: acme-key, plan: free } ]
routes: [ { match: "/search", plans: { free: [ { max: 100, per: 1m } ] } } ]`)
  const key = { 'x-api-key': 'acme-key' }
  const statuses = []
  for (let i = 0; i < 3; i++) statuses.push((await get(`${tollgate.proxyUrl}/search`, key)).status)
  t.same(statuses, [200, 200, 429])
})

t.test('shadow mode counts but never refuses', async (t) => {
  const { upstream, tollgate } = await stack(t, (up, redis) => `
upstream: ${up}
redis: ${redis}
shadow: true
plans: { free: [ { max: 2, per: 1m } ] }
keys: [ { name: acme, key: acme-key, plan: free } ]`)
  const statuses = []
  for (let i = 0; i < 4; i++) statuses.push((await get(`${tollgate.proxyUrl}/shadow`, { 'x-api-key': 'acme-key' })).status)
  t.same(statuses, [200, 200, 200, 200])
  t.equal(forwarded(upstream, '/shadow'), 4)
  const line = await tollgate.waitForLog((l) => l.path === '/shadow' && l.decision === 'would_limit')
  t.equal(line.status, 200)
})
