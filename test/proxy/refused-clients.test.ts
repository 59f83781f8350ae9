import t from 'tap'
import { get, type TextResponse } from '../helpers/http'
import { scrape, valueOf } from '../helpers/metrics'
import { forwarded, stack } from '../helpers/stack'

// A client over its limit is refused from tollgate's memory until its window allows
// again (src/limits/refusal-cache.ts), end to end: the real CLI, a real redis-server, a
// real upstream. Abuse from one key and legitimate traffic from others at once, with
// exact counts for both, and the Redis checks the abuse no longer costs.

const CHECKS = 'tollgate_ratelimit_check_duration_seconds_count'

t.test('concurrent abuse from one key beside legitimate clients: exact counts for both, few Redis checks', async (t) => {
  const legit = Array.from({ length: 5 }, (_, i) => `user${i}`)
  const { upstream, tollgate } = await stack(t, (up, redis) => `
upstream: ${up}
redis: ${redis}
plans:
  free: [ { max: 10, per: 1h } ]
keys:
  - { name: abuser, key: abuser-key, plan: free }
${legit.map((name) => `  - { name: ${name}, key: ${name}-key, plan: free }`).join('\n')}`)

  const ABUSE = 400
  const CONCURRENCY = 20
  const abuse: TextResponse[] = []
  let next = 0
  const abuser = async (): Promise<void> => {
    while (next < ABUSE) {
      next++
      abuse.push(await get(`${tollgate.proxyUrl}/abuse`, { 'x-api-key': 'abuser-key' }))
    }
  }
  const legitimate: TextResponse[] = []
  const user = async (name: string): Promise<void> => {
    for (let i = 0; i < 8; i++) legitimate.push(await get(`${tollgate.proxyUrl}/legit/${name}`, { 'x-api-key': `${name}-key` }))
  }
  await Promise.all([...Array.from({ length: CONCURRENCY }, abuser), ...legit.map(user)])

  t.equal(abuse.filter((r) => r.status === 200).length, 10, 'the abuser: exactly max admitted')
  t.equal(abuse.filter((r) => r.status === 429).length, ABUSE - 10, 'every other request refused')
  t.equal(forwarded(upstream, '/abuse'), 10, 'the app saw exactly 10 of the abuser')
  t.ok(abuse.filter((r) => r.status === 429).every((r) => r.headers['retry-after'] !== undefined && r.headers['x-ratelimit-remaining'] === '0'),
    'every refusal, from Redis or from memory, carries Retry-After and remaining 0')
  t.equal(legitimate.length, 40)
  t.ok(legitimate.every((r) => r.status === 200), 'every legitimate request admitted')
  t.equal(forwarded(upstream, '/legit/'), 40, 'the app saw all 40')

  const samples = await scrape(tollgate)
  const checks = valueOf(samples, CHECKS) ?? NaN
  // 10 admissions + 40 legitimate + the refusals already in flight when the first came back.
  t.ok(checks <= 10 + 40 + CONCURRENCY, `${checks} Redis checks for ${ABUSE + 40} requests`)
  t.equal(valueOf(samples, 'tollgate_ratelimit_decisions_total', { client: 'abuser', plan: 'free', decision: 'limited' }), ABUSE - 10,
    'refusals from memory are counted as limited like any other')
})

t.test('a refused client is admitted again as soon as its window allows', async (t) => {
  const { upstream, tollgate } = await stack(t, (up, redis) => `
upstream: ${up}
redis: ${redis}
plans: { burst: [ { max: 3, per: 2s, algorithm: gcra } ] }
keys: [ { name: acme, key: acme-key, plan: burst } ]`)
  const ask = async (): Promise<TextResponse> => await get(`${tollgate.proxyUrl}/again`, { 'x-api-key': 'acme-key' })
  const first: number[] = []
  for (let i = 0; i < 6; i++) first.push((await ask()).status)
  t.same(first, [200, 200, 200, 429, 429, 429])
  // GCRA refills one every per/max = 667 ms: the first request after that is admitted,
  // not refused from memory until some later time.
  await new Promise((resolve) => setTimeout(resolve, 800))
  t.equal((await ask()).status, 200, 'one refilled: admitted')
  t.equal((await ask()).status, 429, 'and only one')
  t.equal(forwarded(upstream, '/again'), 4)
})
