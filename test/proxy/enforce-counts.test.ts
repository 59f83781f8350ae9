import t from 'tap'
import { startTollgate } from '../helpers/child'
import { get, type TextResponse } from '../helpers/http'
import { startRedis } from '../helpers/redis'
import { LISTEN, stack, forwarded, burst } from '../helpers/stack'
import { startUpstream } from '../helpers/upstream'

// Exact counts end to end: the real CLI, a real redis-server, a real upstream.
// Counting what reached the upstream is what the user's app would see.

t.test('exact counts: 8 sequential against max 5 → 5 forwarded, 3 refused with Retry-After', async (t) => {
  const { upstream, tollgate } = await stack(t, (up, redis) => `
upstream: ${up}
redis: ${redis}
plans: { free: [ { max: 5, per: 10s } ] }
keys: [ { name: acme, key: acme-key, plan: free } ]`)
  const statuses: number[] = []
  let lastRefusal: TextResponse | undefined
  for (let i = 0; i < 8; i++) {
    const res = await get(`${tollgate.proxyUrl}/seq`, { 'x-api-key': 'acme-key' })
    statuses.push(res.status)
    if (res.status === 429) lastRefusal = res
  }
  t.same(statuses, [200, 200, 200, 200, 200, 429, 429, 429])
  t.equal(forwarded(upstream, '/seq'), 5, 'the app saw exactly 5')
  if (lastRefusal === undefined) throw new Error('no refusal')
  const retryAfter = Number(lastRefusal.headers['retry-after'])
  t.ok(retryAfter >= 1 && retryAfter <= 10, `Retry-After ${retryAfter} within the window`)
  t.equal(lastRefusal.headers['x-ratelimit-reset'], String(retryAfter), 'x-ratelimit-reset equals Retry-After')
  t.equal(lastRefusal.headers['x-ratelimit-remaining'], '0')
  t.equal(lastRefusal.headers.ratelimit, `"free-10s";r=0;t=${retryAfter}`)
  t.same(lastRefusal.json(), { error: 'rate_limited', message: 'Rate limit exceeded.', policy: 'free-10s', retry_after: retryAfter })
})

t.test('100 concurrent requests against max 10 → exactly 10 forwarded', async (t) => {
  const { upstream, tollgate } = await stack(t, (up, redis) => `
upstream: ${up}
redis: ${redis}
plans: { free: [ { max: 10, per: 1m } ] }
keys: [ { name: acme, key: acme-key, plan: free } ]`)
  const results = await burst(100, async () => await get(`${tollgate.proxyUrl}/burst`, { 'x-api-key': 'acme-key' }))
  t.equal(results.filter((r) => r.status === 200).length, 10)
  t.equal(results.filter((r) => r.status === 429).length, 90)
  t.equal(forwarded(upstream, '/burst'), 10)
})

t.test('two tollgate instances on one Redis share one budget', async (t) => {
  const redis = await startRedis(t)
  const upstream = await startUpstream(t)
  const config = `${LISTEN}
upstream: ${upstream.url}
redis: ${redis.url}
plans: { free: [ { max: 10, per: 1m } ] }
keys: [ { name: acme, key: acme-key, plan: free } ]`
  const [a, b] = await Promise.all([startTollgate(t, { configYaml: config }), startTollgate(t, { configYaml: config })])
  for (let i = 0; i < 10; i++) t.equal((await get(`${a.proxyUrl}/shared`, { 'x-api-key': 'acme-key' })).status, 200)
  const fromB = await get(`${b.proxyUrl}/shared`, { 'x-api-key': 'acme-key' })
  t.equal(fromB.status, 429, 'B refuses what A spent')
  t.equal(forwarded(upstream, '/shared'), 10)
})

t.test('a window resets after per', async (t) => {
  const { tollgate } = await stack(t, (up, redis) => `
upstream: ${up}
redis: ${redis}
plans: { free: [ { max: 2, per: 1s } ] }
keys: [ { name: acme, key: acme-key, plan: free } ]`)
  const key = { 'x-api-key': 'acme-key' }
  const burst1 = [await get(`${tollgate.proxyUrl}/r`, key), await get(`${tollgate.proxyUrl}/r`, key), await get(`${tollgate.proxyUrl}/r`, key)]
  t.same(burst1.map((r) => r.status), [200, 200, 429])
  await new Promise((resolve) => setTimeout(resolve, 1100))
  const again = [await get(`${tollgate.proxyUrl}/r`, key), await get(`${tollgate.proxyUrl}/r`, key)]
  t.same(again.map((r) => r.status), [200, 200], 'full burst again after one period')
})
