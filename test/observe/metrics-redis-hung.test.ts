import t from 'tap'
import { startTollgate } from '../helpers/child'
import { get } from '../helpers/http'
import { startRedis } from '../helpers/redis'
import { LISTEN } from '../helpers/stack'
import { READY_TIMEOUT_MS, scrape, scrapeUntil as until, valueOrNaN as valueOf, type Sample } from '../helpers/metrics'
import { startUpstream } from '../helpers/upstream'

// Redis trouble as /metrics reports it: a real redis-server paused (SIGSTOP, a hung
// Redis) and resumed under a running sidecar (metrics-redis-down.test.ts: killed).

const REDIS_METRICS = ['tollgate_redis_up', 'tollgate_redis_errors_total', 'tollgate_redis_circuit_state', 'tollgate_ratelimit_decisions_total']
const errors = (s: readonly Sample[], kind: string): number => valueOf(s, 'tollgate_redis_errors_total', { kind })
const decided = (s: readonly Sample[], decision: string): number =>
  valueOf(s, 'tollgate_ratelimit_decisions_total', { client: 'acme', plan: 'free', decision })

t.test('Redis paused (SIGSTOP) under load: timeouts open the circuit (state 2), resume and a probe close it (state 0)', async (t) => {
  const redis = await startRedis(t)
  const upstream = await startUpstream(t)
  const tollgate = await startTollgate(t, {
    readyTimeoutMs: READY_TIMEOUT_MS,
    configYaml: `${LISTEN}
upstream: ${upstream.url}
redis: { url: ${redis.url}, timeout: 100ms }
plans: { free: [ { max: 1000, per: 1m } ] }
keys: [ { name: acme, key: acme-key, plan: free } ]`
  })
  t.teardown(() => redis.resume())
  const key = { 'x-api-key': 'acme-key' }
  t.equal((await get(`${tollgate.proxyUrl}/p`, key)).status, 200)
  const before = await scrape(tollgate)
  t.equal(valueOf(before, 'tollgate_redis_circuit_state'), 0, 'closed while Redis answers')
  t.equal(errors(before, 'timeout'), 0)

  redis.pause()
  const started = Date.now()
  const load = await Promise.all(Array.from({ length: 10 }, async () => await get(`${tollgate.proxyUrl}/p`, key)))
  t.same(load.map((r) => r.status), Array(10).fill(200), 'allow: every request is served without Redis')
  // A hung Redis without a command timeout would hold them until resume().
  t.ok(Date.now() - started < 5000, `none hung: ${Date.now() - started} ms for all 10, with a 100 ms Redis timeout`)
  const paused = await scrape(tollgate)
  t.ok(errors(paused, 'timeout') >= 5, `timeouts counted (${errors(paused, 'timeout')})`)
  t.equal(errors(paused, 'connection'), 0, 'the connection itself is fine: no connection errors')
  t.equal(valueOf(paused, 'tollgate_redis_circuit_state'), 2, 'the circuit is open')
  t.equal(decided(paused, 'degraded'), 10)

  // While open, the breaker answers at once (a request past its pause probes instead).
  await until(tollgate, (s) => errors(s, 'circuit_open') >= 1, 5000, REDIS_METRICS, async () => await get(`${tollgate.proxyUrl}/p`, key))
  t.pass('circuit_open counted while the circuit is open')

  redis.resume()
  const resumedAt = Date.now()
  const closed = await until(tollgate, (s) => valueOf(s, 'tollgate_redis_circuit_state') === 0, 8000, REDIS_METRICS,
    async () => await get(`${tollgate.proxyUrl}/p`, key))
  t.equal(valueOf(closed, 'tollgate_redis_circuit_state'), 0, `closed again ${Date.now() - resumedAt} ms after resume, by a successful probe`)
  t.ok(decided(closed, 'allowed') >= 2, 'decided by Redis again')
  t.equal(valueOf(closed, 'tollgate_redis_up'), 1)
})
