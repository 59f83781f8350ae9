import t from 'tap'
import { buildTestApp, capturedLog, testConfig } from '../helpers/app'
import { get } from '../helpers/http'
import { parseSamples, valueOf } from '../helpers/metrics'
import { startRedis } from '../helpers/redis'
import { startUpstream } from '../helpers/upstream'

// Issue 9, finding 3: "no error inside the limiter is ever silent". With `max: 2000000000`
// the store refused every check of that plan with its own error; it was never logged,
// counted as a Redis failure and opened the breaker, so every key was decided without
// Redis. The schema now refuses such a file (bounds.test.ts), so no file can get there:
// here the validated config is broken by hand after the schema, as a bug could, and the
// whole proxy runs on it, on real sockets, against a real redis-server under `deny`.

const BIG_KEY = 'bigco-key-3f1a'
const ACME_KEY = 'acme-key-77c2'

t.test('a store error that is not Redis\' is a logged 500 for that key alone; Redis, the breaker and other keys are untouched', async (t) => {
  const redis = await startRedis(t)
  const upstream = await startUpstream(t)
  const config = testConfig(`
upstream: ${upstream.url}
redis: ${redis.url}
on_redis_error: deny
plans:
  huge: [ { max: 1000, per: 1m } ]
  free: [ { max: 3, per: 1m } ]
keys:
  - { name: bigco, key: ${BIG_KEY}, plan: huge }
  - { name: acme, key: ${ACME_KEY}, plan: free }
`)
  const huge = config.plans.huge?.[0]
  if (huge === undefined) throw new Error('no huge plan')
  huge.max = 2_000_000_000

  const { log, logs } = capturedLog()
  const { app, metrics } = await buildTestApp(t, config, log)
  const proxy = await app.proxy.listen({ host: '127.0.0.1', port: 0 })

  for (let i = 0; i < 10; i++) {
    const res = await get(`${proxy}/x`, { 'x-api-key': BIG_KEY })
    t.equal(res.status, 500, `bigco ${i + 1}: 500, never let through`)
    t.match(res.json(), { error: 'internal_error' })
    t.notMatch(res.body, /2000000000|max must be/, 'the cause stays in the log')
  }
  t.equal(upstream.requests.filter((r) => r.headers['x-api-key'] === BIG_KEY).length, 0, 'nothing of bigco reached the app')

  const logged = logs.filter((l) => l.msg === 'rate-limit check failed inside tollgate (not a Redis error)')
  t.equal(logged.length, 10, 'each failure logged')
  t.match(logged[0], { level: 50, subject: 'bigco', err: { type: 'InvalidLimitRequestError', message: /max must be an integer from 1 to .*got 2000000000/ } }, 'with its cause')
  t.notOk(logs.some((l) => typeof l.msg === 'string' && /circuit/.test(l.msg)), 'no "redis circuit open"')

  const statuses = []
  for (let i = 0; i < 4; i++) statuses.push((await get(`${proxy}/x`, { 'x-api-key': ACME_KEY })).status)
  t.strictSame(statuses, [200, 200, 200, 429], 'acme is decided by Redis as before: 3 a minute')

  const samples = parseSamples(await metrics.registry.metrics())
  for (const kind of ['connection', 'timeout', 'circuit_open', 'other']) {
    t.equal(valueOf(samples, 'tollgate_redis_errors_total', { kind }), 0, `no Redis error counted (${kind})`)
  }
  t.equal(valueOf(samples, 'tollgate_redis_circuit_state'), 0, 'the circuit stays closed')
  t.equal(valueOf(samples, 'tollgate_ratelimit_decisions_total', { client: 'acme', plan: 'free', decision: 'allowed' }), 3)
  t.equal(valueOf(samples, 'tollgate_ratelimit_decisions_total', { client: 'acme', plan: 'free', decision: 'degraded' }), undefined, 'acme never decided without Redis')
})
