import t from 'tap'
import { startTollgate, type Tollgate } from '../helpers/child'
import { get } from '../helpers/http'
import { startRedis } from '../helpers/redis'
import { LISTEN } from '../helpers/stack'
import { READY_TIMEOUT_MS, scrape, scrapeUntil as until, valueOrNaN as valueOf, type Sample } from '../helpers/metrics'
import { startUpstream } from '../helpers/upstream'

// Redis trouble as /metrics reports it: a real redis-server killed and restarted under
// running sidecars (metrics-redis-hung.test.ts: paused and resumed).

const REDIS_METRICS = ['tollgate_redis_up', 'tollgate_redis_errors_total', 'tollgate_redis_circuit_state', 'tollgate_ratelimit_decisions_total']
const errors = (s: readonly Sample[], kind: string): number => valueOf(s, 'tollgate_redis_errors_total', { kind })
const decided = (s: readonly Sample[], decision: string): number =>
  valueOf(s, 'tollgate_ratelimit_decisions_total', { client: 'acme', plan: 'free', decision })

t.test('Redis killed and restarted: redis_up, connection errors, the breaker, degraded decisions under allow and deny', async (t) => {
  const redis = await startRedis(t)
  const upstream = await startUpstream(t)
  const config = (mode: string): string => `${LISTEN}
upstream: ${upstream.url}
redis: ${redis.url}
on_redis_error: ${mode}
plans: { free: [ { max: 100, per: 1m } ] }
keys: [ { name: acme, key: acme-key, plan: free } ]`
  const launch = async (mode: string): Promise<Tollgate> => await startTollgate(t, { configYaml: config(mode), readyTimeoutMs: READY_TIMEOUT_MS })
  const [allow, deny] = await Promise.all([launch('allow'), launch('deny')])
  const key = { 'x-api-key': 'acme-key' }

  const start = await scrape(allow)
  t.equal(valueOf(start, 'tollgate_redis_up'), 1, 'redis_up is 1 once connected')
  t.equal(valueOf(start, 'tollgate_redis_circuit_state'), 0, 'the circuit starts closed')
  t.equal((await get(`${allow.proxyUrl}/k`, key)).status, 200)
  t.equal(decided(await scrape(allow), 'allowed'), 1)

  await redis.kill()
  // No request in between: the connection's own close turns the gauge down.
  await until(allow, (s) => valueOf(s, 'tollgate_redis_up') === 0, 3000, REDIS_METRICS)
  await until(deny, (s) => valueOf(s, 'tollgate_redis_up') === 0, 3000, REDIS_METRICS)
  t.pass('redis_up is 0 on both once Redis is killed')

  for (let i = 0; i < 5; i++) t.equal((await get(`${allow.proxyUrl}/k`, key)).status, 200, 'allow: served without Redis')
  const fifth = await scrape(allow)
  t.equal(errors(fifth, 'connection'), 5, 'five connection errors')
  t.equal(errors(fifth, 'circuit_open'), 0, 'no circuit_open before the breaker opens')
  t.equal(errors(fifth, 'timeout'), 0, 'a dead connection fails at once, not by timeout')
  t.equal(valueOf(fifth, 'tollgate_redis_circuit_state'), 2, 'five consecutive failures open the circuit')
  t.equal(decided(fifth, 'degraded'), 5, 'each decided without Redis: degraded')
  t.equal(decided(fifth, 'allowed'), 1, 'and not allowed')
  t.equal(valueOf(fifth, 'tollgate_ratelimit_check_duration_seconds_count'), 6, 'a failed check is timed too')

  // Right after opening, the breaker answers by itself; past its pause (500 ms, more
  // on a loaded machine) one request probes the dead connection and reopens it.
  let sent = 5
  const open = await until(allow, (s) => errors(s, 'circuit_open') >= 1, 5000, REDIS_METRICS, async () => {
    sent++
    t.equal((await get(`${allow.proxyUrl}/k`, key)).status, 200)
  })
  t.equal(errors(open, 'circuit_open') + errors(open, 'connection'), sent, 'every failed check is counted once, by kind')
  t.equal(decided(open, 'degraded'), sent)

  for (let i = 0; i < 3; i++) {
    const res = await get(`${deny.proxyUrl}/k`, key)
    t.equal(res.status, 503, 'deny: 503 without Redis')
    t.equal((res.json() as { error: string }).error, 'limiter_unavailable')
  }
  const denied = await scrape(deny)
  t.equal(decided(denied, 'degraded'), 3, 'deny: the refusals are degraded decisions too')
  t.equal(decided(denied, 'limited'), 0, 'not limited: nobody was over a limit')
  t.equal(errors(denied, 'connection'), 3)
  t.equal(valueOf(denied, 'tollgate_http_requests_total', { listener: 'proxy', method: 'GET', route: 'default', status_code: 503 }), 3)

  await redis.restart()
  const restartedAt = Date.now()
  await until(allow, (s) => valueOf(s, 'tollgate_redis_up') === 1, 8000, REDIS_METRICS)
  t.pass(`redis_up is back to 1 ${Date.now() - restartedAt} ms after the restart, with no request needed`)
  // The breaker closes on the first probe that succeeds: requests drive the probes.
  const back = await until(allow, (s) => valueOf(s, 'tollgate_redis_circuit_state') === 0, 8000, REDIS_METRICS,
    async () => await get(`${allow.proxyUrl}/k`, key))
  t.ok(decided(back, 'allowed') >= 2, 'decided by Redis again: allowed')
})
