import { createHash } from 'node:crypto'
import Redis from 'ioredis'
import t, { type Test } from 'tap'
import { startTollgate, type Tollgate } from '../helpers/child'
import { get, send, type TextResponse } from '../helpers/http'
import { startRedis } from '../helpers/redis'
import { startUpstream, type Upstream } from '../helpers/upstream'

// Limits end to end: the real CLI in a child process, a real redis-server, a real
// upstream. Counting what reached the upstream is what the user's app would see.

const LISTEN = 'listen: { proxy: 127.0.0.1:0, admin: 127.0.0.1:0 }'

interface Stack { upstream: Upstream, tollgate: Tollgate, redisUrl: string }

async function stack (t: Test, body: (upstream: string, redis: string) => string): Promise<Stack> {
  const redis = await startRedis(t)
  const upstream = await startUpstream(t)
  const tollgate = await startTollgate(t, { configYaml: `${LISTEN}\n${body(upstream.url, redis.url)}` })
  return { upstream, tollgate, redisUrl: redis.url }
}

const forwarded = (upstream: Upstream, path: string): number => upstream.requests.filter((r) => r.url.startsWith(path)).length

async function burst (n: number, request: () => Promise<TextResponse>): Promise<TextResponse[]> {
  return await Promise.all(Array.from({ length: n }, request))
}

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

t.test('identity: header and Bearer keys, unknown, malformed and missing keys', async (t) => {
  const { upstream, tollgate } = await stack(t, (up, redis) => `
upstream: ${up}
redis: ${redis}
trust_proxy: true
plans:
  anonymous: [ { max: 2, per: 1m } ]
  pro: [ { max: 100, per: 1m } ]
keys: [ { name: acme, sha256: "${createHash('sha256').update('acme-key').digest('hex')}", plan: pro } ]`)
  const url = `${tollgate.proxyUrl}/who`
  const viaHeader = await get(url, { 'x-api-key': 'acme-key' })
  t.equal(viaHeader.status, 200)
  t.equal(viaHeader.headers['x-ratelimit-limit'], '100', 'the key got its plan')
  const viaBearer = await get(url, { authorization: 'Bearer acme-key' })
  t.equal(viaBearer.status, 200)
  t.equal(viaBearer.headers['x-ratelimit-remaining'], '98', 'Bearer spends the same budget')
  const seen = upstream.requests.filter((r) => r.url === '/who').map((r) => [r.headers['x-tollgate-client'], r.headers['x-tollgate-plan']])
  t.same(seen, [['acme', 'pro'], ['acme', 'pro']], 'the app learns who called')

  const unknown = await get(url, { 'x-api-key': 'nope' })
  t.equal(unknown.status, 401)
  t.equal((unknown.json() as { error: string }).error, 'invalid_api_key')
  const tooLong = await get(url, { 'x-api-key': 'k'.repeat(257) })
  t.equal(tooLong.status, 400)
  t.equal((tooLong.json() as { error: string }).error, 'malformed_api_key')
  const notAscii = await get(url, { 'x-api-key': 'caf\u00e9-key' })
  t.equal(notAscii.status, 400, 'non-ASCII key is refused before any lookup')
  t.equal(forwarded(upstream, '/who'), 2, 'nothing refused reached the app')

  // No key: the anonymous plan, per client IP (trust_proxy: true believes x-forwarded-for).
  const anon = async (ip: string): Promise<number> => (await get(url, { 'x-forwarded-for': ip })).status
  t.same([await anon('10.0.0.1'), await anon('10.0.0.1'), await anon('10.0.0.1')], [200, 200, 429])
  t.equal(await anon('10.0.0.2'), 200, 'another IP has its own budget')
  const anonSeen = upstream.requests.filter((r) => r.url === '/who').at(-1)
  t.equal(anonSeen?.headers['x-tollgate-client'], 'anonymous')
})

t.test('no key and no anonymous plan → 401 api_key_required', async (t) => {
  const { upstream, tollgate } = await stack(t, (up) => `
upstream: ${up}
plans: { pro: [ { max: 100, per: 1m } ] }
keys: [ { name: acme, key: acme-key, plan: pro } ]`)
  const res = await get(`${tollgate.proxyUrl}/x`)
  t.equal(res.status, 401)
  t.equal((res.json() as { error: string }).error, 'api_key_required')
  t.equal(forwarded(upstream, '/x'), 0)
})

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

t.test('Redis killed mid-test: allow forwards, deny answers 503, none hang, limits resume', async (t) => {
  const redis = await startRedis(t)
  const upstream = await startUpstream(t)
  const config = (mode: string): string => `${LISTEN}
upstream: ${upstream.url}
redis: ${redis.url}
on_redis_error: ${mode}
plans: { free: [ { max: 3, per: 1m } ] }
keys: [ { name: acme, key: acme-key, plan: free } ]`
  const allow = await startTollgate(t, { configYaml: config('allow') })
  const deny = await startTollgate(t, { configYaml: config('deny') })
  const key = { 'x-api-key': 'acme-key' }
  t.equal((await get(`${allow.proxyUrl}/k`, key)).status, 200)

  await redis.kill()
  for (const [name, tg, expected] of [['allow', allow, 200], ['deny', deny, 503]] as const) {
    for (let i = 0; i < 5; i++) {
      const started = Date.now()
      const res = await get(`${tg.proxyUrl}/k`, key)
      t.equal(res.status, expected, `${name}: ${expected} while Redis is down`)
      t.ok(Date.now() - started < 1000, `${name}: answered in ${Date.now() - started} ms, not hung`)
      if (expected === 503) t.equal((res.json() as { error: string }).error, 'limiter_unavailable')
    }
  }
  const degraded = await allow.waitForLog((l) => l.path === '/k' && l.decision === 'degraded')
  t.equal(degraded.status, 200)

  await redis.restart()
  // The client reconnects in the background (backoff up to 2 s): wait for a real decision.
  const deadline = Date.now() + 10_000
  let resumed: TextResponse | undefined
  while (Date.now() < deadline) {
    const res = await get(`${deny.proxyUrl}/k`, key)
    if (res.status !== 503) { resumed = res; break }
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
  t.equal(resumed?.status, 200, 'deny serves again once Redis is back')
  t.equal(resumed?.headers['x-ratelimit-remaining'], '2', 'counting again from the fresh Redis')
  const counts = []
  for (let i = 0; i < 3; i++) counts.push((await get(`${deny.proxyUrl}/k`, key)).status)
  t.same(counts, [200, 200, 429], 'and enforcing again')
})

t.test('the raw key appears in no log line and no Redis key name', async (t) => {
  const secret = 'sk_live_TOPSECRET_1234567890'
  const { tollgate, redisUrl } = await stack(t, (up, redis) => `
upstream: ${up}
redis: ${redis}
plans: { free: [ { max: 1, per: 1m } ] }
keys: [ { name: acme, key: ${secret}, plan: free } ]`)
  await get(`${tollgate.proxyUrl}/s`, { 'x-api-key': secret })
  await get(`${tollgate.proxyUrl}/s`, { authorization: `Bearer ${secret}` })
  await get(`${tollgate.proxyUrl}/s`, { 'x-api-key': `${secret}-wrong` })
  await tollgate.waitForLog((l) => l.status === 401)
  t.notMatch(tollgate.stdout() + tollgate.stderr(), 'TOPSECRET', 'no log line carries the key')
  const client = new Redis(redisUrl)
  t.teardown(() => client.disconnect())
  const keys = await client.keys('*')
  t.ok(keys.length > 0, 'state was written')
  t.ok(keys.every((k) => k.startsWith('tollgate:{acme}:')), `keys are named by client: ${keys.join(', ')}`)
  t.notMatch(keys.join(' '), 'TOPSECRET')
})
