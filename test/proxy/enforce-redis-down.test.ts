import t from 'tap'
import { startTollgate } from '../helpers/child'
import { get, type TextResponse } from '../helpers/http'
import { startRedis } from '../helpers/redis'
import { LISTEN } from '../helpers/stack'
import { startUpstream } from '../helpers/upstream'

// Redis dying under a running tollgate, for each on_redis_error mode.

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
