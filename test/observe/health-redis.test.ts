import t from 'tap'
import { startTollgate } from '../helpers/child'
import { get } from '../helpers/http'
import { startRedis } from '../helpers/redis'
import { LISTEN } from '../helpers/stack'
import { startUpstream } from '../helpers/upstream'
import { pollUntil as until, READY_TIMEOUT_MS, ready } from '../helpers/metrics'

/*
 * `/health/live` and `/health/ready` against a real redis-server that dies under a
 * running tollgate (the real CLI in a child process): only `on_redis_error: deny` ties
 * readiness to Redis, and liveness is tied to nothing.
 */

/**
 * How soon a change must show: the rest of one cache second, then one check (~1 s in
 * all), with room for a loaded CI machine. A cache that never expired never gets there.
 */
const SOON_MS = 2500

function config (upstream: string, redis: string, mode: 'allow' | 'deny'): string {
  return `${LISTEN}
upstream: ${upstream}
upstream_health: { interval: 1s, timeout: 500ms }
redis: ${redis}
on_redis_error: ${mode}
plans: { free: [ { max: 1000, per: 1s } ] }`
}

t.test('live stays 200 with Redis and the app both dead, while ready says why it is not', async (t) => {
  const redis = await startRedis(t)
  const upstream = await startUpstream(t)
  const tg = await startTollgate(t, { configYaml: config(upstream.url, redis.url, 'deny'), readyTimeoutMs: READY_TIMEOUT_MS })
  t.equal((await ready(tg)).status, 200)

  await Promise.all([redis.kill(), upstream.close()])
  // The control: tollgate does see both as dead.
  const red = await until(`${tg.adminUrl}/health/ready`, (res) => res.status === 503 && (res.json() as { failing: string[] }).failing.length === 2, 5000)
  t.same(red.res.json(), { status: 'fail', failing: ['redis', 'upstream'] })

  for (let i = 0; i < 5; i++) {
    const live = await get(`${tg.adminUrl}/health/live`)
    t.equal(live.status, 200, `live #${i + 1}`)
    t.same(live.json(), { status: 'pass' })
    await new Promise((resolve) => setTimeout(resolve, 250))
  }
})

t.test('a dead Redis: deny → 503 naming redis within ~2 s, allow → still 200; both recover', async (t) => {
  const redis = await startRedis(t)
  const upstream = await startUpstream(t)
  const [allow, deny] = await Promise.all([
    startTollgate(t, { configYaml: config(upstream.url, redis.url, 'allow'), readyTimeoutMs: READY_TIMEOUT_MS }),
    startTollgate(t, { configYaml: config(upstream.url, redis.url, 'deny'), readyTimeoutMs: READY_TIMEOUT_MS })
  ])
  // Probed first, so the kill below has a cached "pass" to outlive.
  t.equal((await ready(allow)).status, 200)
  t.equal((await ready(deny)).status, 200)

  await redis.kill()
  const killedAt = Date.now()
  const red = await until(`${deny.adminUrl}/health/ready`, (res) => res.status === 503, 5000)
  t.same(red.res.json(), { status: 'fail', failing: ['redis'] })
  t.ok(Date.now() - killedAt < SOON_MS, `deny: 503 within ${Date.now() - killedAt} ms of the kill`)

  // Past the cache second, so allow's answer is a fresh look at a dead Redis.
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, killedAt + 1100 - Date.now())))
  const allowed = await ready(allow)
  t.equal(allowed.status, 200, 'allow: a dead Redis does not make the sidecar unready')
  t.same(allowed.json(), { status: 'pass' })
  t.equal((await ready(deny)).status, 503, 'deny: still 503 at the same moment')

  await redis.restart()
  // The client reconnects in the background with a backoff of up to 2 s.
  const green = await until(`${deny.adminUrl}/health/ready`, (res) => res.status === 200, 8000)
  t.equal(green.res.status, 200, `deny: ready again ${green.ms} ms after Redis came back`)
  t.equal((await ready(allow)).status, 200)
})
