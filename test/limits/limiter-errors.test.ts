import t from 'tap'
import { parseConfig } from '../../src/config'
import { buildRuntime, openStores } from '../../src/limits'
import type { PlanLimits } from '../../src/limits/policy'
import { createLogger } from '../../src/observe/logger'
import { createMetrics, storeMetrics } from '../../src/observe/metrics'
import { valueOf, parseSamples } from '../helpers/metrics'
import { startRedis } from '../helpers/redis'

// Regression: `max: 2000000000` made the Redis store reject every check of that plan with
// its own error ("max must be an integer from 1 to 1e9"). It was never logged, counted
// as a Redis failure, and opened the circuit breaker, so every other key was decided
// without Redis: 503 for healthy keys under `deny`, no limit at all under `allow`. The
// only log line said `redis circuit open`. Now an error that is not Redis' is logged
// with its cause, counts nowhere as a Redis error, and leaves other keys alone. In
// process, with a real redis-server: the schema may refuse such a config, so the
// broken windows are built by hand, as a bug elsewhere could build them.

const broken: PlanLimits = {
  plan: 'huge',
  policyHeader: '"huge-1m";q=2000000000;w=60',
  windows: [{ policy: 'huge-1m', scope: 'plan:0', max: 2_000_000_000, perMs: 60_000, algorithm: 'gcra' }]
}

for (const mode of ['allow', 'deny'] as const) {
  t.test(`on_redis_error: ${mode}: a store error that is not Redis' is logged, contained and refused`, async (t) => {
    const redis = await startRedis(t)
    const parsed = parseConfig(`
redis: ${redis.url}
on_redis_error: ${mode}
plans: { free: [ { max: 5, per: 1m } ] }`, {})
    if (!parsed.ok) throw new Error(parsed.errors.join('\n'))
    const lines: Array<Record<string, unknown>> = []
    const log = createLogger('info', { write: (line: string) => { lines.push(JSON.parse(line) as Record<string, unknown>) } })
    const metrics = createMetrics({ version: 'test' })
    const stores = openStores(parsed.config, log, storeMetrics(metrics))
    t.teardown(async () => { await stores.close() })
    await new Promise<void>((resolve) => { stores.redis?.once('ready', () => resolve()) })
    const runtime = buildRuntime(parsed.config, stores)
    const free = runtime.policy.limits('free', undefined)
    if (free === undefined) throw new Error('no free plan')

    for (let i = 0; i < 20; i++) {
      const decision = await runtime.limiter.decide('bigco', broken, 1)
      t.same(decision, { outcome: 'degraded', refusal: 'internal_error', policyHeader: broken.policyHeader }, `check ${i + 1}: refused, not let through`)
    }

    const logged = lines.filter((l) => l.msg === 'rate-limit check failed inside tollgate (not a Redis error)')
    t.equal(logged.length, 20, 'every failure is logged')
    t.match(logged[0], { level: 50, subject: 'bigco', err: { type: 'InvalidLimitRequestError', code: 'INVALID_LIMIT_REQUEST', message: /max must be an integer from 1 to .*got 2000000000/ } }, 'with its cause')
    t.notOk(lines.some((l) => typeof l.msg === 'string' && /circuit/.test(l.msg)), 'no "redis circuit open"')

    const samples = parseSamples(await metrics.registry.metrics())
    for (const kind of ['connection', 'timeout', 'circuit_open', 'other']) {
      t.equal(valueOf(samples, 'tollgate_redis_errors_total', { kind }), 0, `not counted as a Redis error (${kind})`)
    }
    t.equal(valueOf(samples, 'tollgate_redis_circuit_state'), 0, 'the circuit stays closed')

    const outcomes = []
    for (let i = 0; i < 6; i++) outcomes.push((await runtime.limiter.decide('acme', free, 1)).outcome)
    t.same(outcomes, ['allowed', 'allowed', 'allowed', 'allowed', 'allowed', 'limited'], 'another key keeps its normal decisions, against Redis')
  })
}
