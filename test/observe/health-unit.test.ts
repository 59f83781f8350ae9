import { getHeapStatistics } from 'node:v8'
import { setTimeout as delay } from 'node:timers/promises'
import Fastify from 'fastify'
import t from 'tap'
import {
  configComponent,
  eventLoopComponent,
  memoryComponent,
  redisComponent,
  shutdownComponent,
  upstreamComponent
} from '../../src/observe/components'
import { Health, registerHealthRoutes, type CheckResult, type Component, type Observation } from '../../src/observe/health'

/*
 * The Health class and its routes in process, with an injected clock and fake
 * components: the caching, timeout and concurrency logic, where a real Redis or app
 * would only add noise. The end-to-end files (health-*.test.ts) prove the same
 * contract through the real CLI.
 */

/** A component whose check counts its calls and answers what `next` says. */
function counting (key: string, opts: { required?: boolean, live?: boolean } = {}): Component & { calls: number, next: Observation } {
  const component = {
    key,
    calls: 0,
    next: { status: 'pass' } as Observation,
    live: opts.live,
    required: () => opts.required ?? true,
    async check (): Promise<Observation> {
      component.calls++
      return component.next
    }
  }
  return component
}

function clock (): { now: () => number, at: number } {
  const c = { at: 1_700_000_000_000, now: () => c.at }
  return c
}

const byKey = (results: readonly CheckResult[], key: string): CheckResult => {
  const found = results.find((r) => r.key === key)
  if (found === undefined) throw new Error(`no result for ${key} in ${JSON.stringify(results)}`)
  return found
}

t.test('results are reused for cacheMs, then checked afresh', async (t) => {
  const c = clock()
  const redis = counting('redis:responseTime')
  const health = new Health({ components: () => [redis], now: c.now })

  const first = await health.results()
  t.equal(redis.calls, 1)
  c.at += 999
  redis.next = { status: 'fail', output: 'down' }
  const cached = await health.results()
  t.equal(redis.calls, 1, 'within the second: no new check')
  t.equal(byKey(cached, 'redis:responseTime').status, 'pass', 'the cached observation, not the new state')
  t.equal(byKey(cached, 'redis:responseTime').time, byKey(first, 'redis:responseTime').time, 'the same observation, same time')

  c.at += 1
  const fresh = await health.results()
  t.equal(redis.calls, 2, 'a second later: checked again')
  t.equal(byKey(fresh, 'redis:responseTime').status, 'fail', 'and the changed state is seen')
})

// Regression: the cache age was `now - cachedAt` on the wall clock, so a clock stepped
// back (NTP) froze the results until it caught up again.
t.test('a wall clock stepped back does not freeze the cache', async (t) => {
  const c = clock()
  const redis = counting('redis:responseTime')
  const health = new Health({ components: () => [redis], now: c.now })
  await health.results()
  c.at -= 3_600_000
  redis.next = { status: 'fail', output: 'down' }
  t.equal((await health.results())[0]?.status, 'fail', 'checked afresh, not served from a cache an hour "in the future"')
  t.equal(redis.calls, 2)
  c.at += 500
  await health.results()
  t.equal(redis.calls, 2, 'and cached again from there')
})

t.test('a storm of concurrent probes shares the one check in flight', async (t) => {
  const c = clock()
  let release: () => void = () => {}
  const gate = new Promise<void>((resolve) => { release = resolve })
  let calls = 0
  const slow: Component = {
    key: 'upstream:responseTime',
    required: () => true,
    async check () {
      calls++
      await gate
      return { status: 'pass' }
    }
  }
  const health = new Health({ components: () => [slow], now: c.now })
  const storm = Array.from({ length: 200 }, async () => await health.results())
  await delay(10)
  t.equal(calls, 1, '200 probes while the check is pending: one check')
  release()
  const all = await Promise.all(storm)
  t.ok(all.every((results) => byKey(results, 'upstream:responseTime').status === 'pass'), 'all 200 get its answer')
  t.equal(calls, 1)
})

t.test('a live component is checked on every call, never cached', async (t) => {
  const c = clock()
  let shuttingDown = false
  const upstream = counting('upstream:responseTime')
  const health = new Health({ components: () => [upstream, shutdownComponent(() => shuttingDown)], now: c.now })
  t.equal(byKey(await health.results(), 'shutdown:state').status, 'pass')
  shuttingDown = true
  c.at += 1 // well within the cache second
  const results = await health.results()
  t.equal(byKey(results, 'shutdown:state').status, 'fail', 'shutdown seen at once')
  t.equal(byKey(results, 'shutdown:state').observedValue, 'draining')
  t.equal(upstream.calls, 1, 'while the other components still come from the cache')
})

t.test('components are checked concurrently, not one after the other', async (t) => {
  // Each check waits until the other has started: in sequence the first would wait
  // for ever (and time out); concurrently both pass at once.
  let aStarted: () => void = () => {}
  let bStarted: () => void = () => {}
  const aRunning = new Promise<void>((resolve) => { aStarted = resolve })
  const bRunning = new Promise<void>((resolve) => { bStarted = resolve })
  const a: Component = { key: 'redis:responseTime', required: () => true, async check () { aStarted(); await bRunning; return { status: 'pass' } } }
  const b: Component = { key: 'upstream:responseTime', required: () => true, async check () { bStarted(); await aRunning; return { status: 'pass' } } }
  const health = new Health({ components: () => [a, b], timeoutMs: 500 })
  const started = Date.now()
  const results = await health.results()
  t.same(results.map((r) => r.status), ['pass', 'pass'])
  t.ok(Date.now() - started < 400, `both answered in ${Date.now() - started} ms`)
})

t.test('a check that never answers fails after timeoutMs, and the others still report', async (t) => {
  const hung: Component = { key: 'redis:responseTime', required: () => true, check: async () => await new Promise<Observation>(() => {}) }
  const fine = counting('config:reload')
  const health = new Health({ components: () => [hung, fine], timeoutMs: 150 })
  const started = Date.now()
  const results = await health.results()
  const elapsed = Date.now() - started
  t.ok(elapsed >= 140 && elapsed < 1000, `answered after ${elapsed} ms`)
  const redis = byKey(results, 'redis:responseTime')
  t.equal(redis.status, 'fail')
  t.equal(redis.output, 'no answer within 150 ms')
  t.ok(redis.latencyMs >= 140 && redis.latencyMs < 1000, `latency reported: ${redis.latencyMs} ms`)
  t.equal(byKey(results, 'config:reload').status, 'pass')
})

t.test('a check that throws fails with its message', async (t) => {
  const broken: Component = {
    key: 'redis:responseTime',
    required: () => true,
    async check () { throw new Error('Connection is closed.') }
  }
  const results = await new Health({ components: () => [broken] }).results()
  t.match(results[0], { status: 'fail', output: 'Connection is closed.', componentId: 'redis', required: true })
})

t.test('a failing component that is not required only warns', async (t) => {
  let required = false
  const redis = counting('redis:responseTime', {})
  redis.required = () => required
  redis.next = { status: 'fail', output: 'ECONNREFUSED' }
  const c = clock()
  const health = new Health({ components: () => [redis], now: c.now })
  t.match((await health.results())[0], { status: 'warn', required: false, output: 'ECONNREFUSED' })
  required = true
  c.at += 1000
  t.match((await health.results())[0], { status: 'fail', required: true })
})

t.test('each result carries status, time (ISO), latency and its component id', async (t) => {
  const c = clock()
  const slowish: Component = {
    key: 'upstream:responseTime',
    required: () => true,
    async check () {
      c.at += 42
      return { status: 'pass', observedValue: 'GET /healthz → 200' }
    }
  }
  const [result] = await new Health({ components: () => [slowish], now: c.now }).results()
  t.same(result, {
    status: 'pass',
    observedValue: 'GET /healthz → 200',
    key: 'upstream:responseTime',
    componentId: 'upstream',
    required: true,
    time: new Date(c.at).toISOString(),
    latencyMs: 42
  })
})

t.test('routes', async (t) => {
  const upstream = counting('upstream:responseTime')
  const redis = counting('redis:responseTime', { required: false })
  const config = counting('config:reload')
  const app = Fastify()
  const c = clock()
  registerHealthRoutes(app, new Health({ components: () => [redis, upstream, config], now: c.now }), { version: '9.9.9' })
  t.teardown(async () => await app.close())
  const next = async (states: { redis?: Observation, upstream?: Observation, config?: Observation }): Promise<void> => {
    redis.next = states.redis ?? { status: 'pass' }
    upstream.next = states.upstream ?? { status: 'pass' }
    config.next = states.config ?? { status: 'pass' }
    c.at += 1000
  }

  t.test('/health/live never runs a check and is 200 even when all fail', async (t) => {
    const fail: Observation = { status: 'fail' }
    await next({ redis: fail, upstream: fail, config: fail })
    const before = upstream.calls + redis.calls + config.calls
    const res = await app.inject('/health/live')
    t.equal(res.statusCode, 200)
    t.same(res.json(), { status: 'pass' })
    t.equal(upstream.calls + redis.calls + config.calls, before, 'no component was asked')
  })

  t.test('/health/ready: 200 when all pass or only warn, 503 naming the failing required ones', async (t) => {
    await next({})
    let res = await app.inject('/health/ready')
    t.equal(res.statusCode, 200)
    t.same(res.json(), { status: 'pass' })

    await next({ redis: { status: 'fail' } })
    res = await app.inject('/health/ready')
    t.equal(res.statusCode, 200, 'a non-required failure is a warning: still ready')

    await next({ upstream: { status: 'fail' } })
    res = await app.inject('/health/ready')
    t.equal(res.statusCode, 503)
    t.same(res.json(), { status: 'fail', failing: ['upstream'] })

    await next({ upstream: { status: 'fail' }, config: { status: 'fail' }, redis: { status: 'fail' } })
    res = await app.inject('/health/ready')
    t.equal(res.statusCode, 503)
    t.same(res.json(), { status: 'fail', failing: ['upstream', 'config'] }, 'every failing required one, not the warning')
  })

  t.test('/health/full: application/health+json; 200 on pass and warn, 503 on fail', async (t) => {
    for (const [states, status, code] of [
      [{}, 'pass', 200],
      [{ config: { status: 'warn', output: 'last reload rejected' } }, 'warn', 200],
      [{ redis: { status: 'fail', output: 'ECONNREFUSED' } }, 'warn', 200],
      [{ upstream: { status: 'fail', output: 'ECONNREFUSED' } }, 'fail', 503]
    ] as const) {
      await next(states)
      const res = await app.inject('/health/full')
      t.equal(res.statusCode, code, `${status} → ${code}`)
      t.match(res.headers['content-type'], /^application\/health\+json(;|$)/)
      const body = res.json<{ status: string, version: string, checks: Record<string, unknown[]> }>()
      t.equal(body.status, status)
      t.equal(body.version, '9.9.9')
      t.same(Object.keys(body.checks), ['redis:responseTime', 'upstream:responseTime', 'config:reload'])
      for (const [key, entries] of Object.entries(body.checks)) {
        t.equal(entries.length, 1, `${key}: an array of one observation`)
        t.match(entries[0], { status: /^(pass|warn|fail)$/, componentId: key.split(':')[0], time: String, latencyMs: Number }, key)
        t.notOk('key' in (entries[0] as object), `${key}: the key is not repeated inside`)
      }
    }
  })
})

t.test('components', async (t) => {
  t.test('upstream: passes in decision-API-only mode, else fails with what the probe saw', async (t) => {
    const none = upstreamComponent(undefined)
    t.equal(none.required(), false)
    t.match(await none.check(), { status: 'pass', observedValue: 'no upstream: decision API only' })

    const down = upstreamComponent(async () => ({ ok: false, detail: 'GET /healthz → 503' }))
    t.equal(down.required(), true, 'the upstream is required when there is one')
    t.same(await down.check(), { status: 'fail', observedValue: 'GET /healthz → 503', output: 'the upstream does not answer: GET /healthz → 503' })
    const up = upstreamComponent(async () => ({ ok: true, detail: 'GET /healthz → 200' }))
    t.same(await up.check(), { status: 'pass', observedValue: 'GET /healthz → 200' })
  })

  t.test('redis: the embedded store passes; a PING reports its time or fails; the connection in force is asked', async (t) => {
    let client: { ping: () => Promise<{ topology: string, state?: string }> } | undefined
    const required = { deny: false }
    const redis = redisComponent(() => client, () => required.deny)
    t.match(await redis.check(), { status: 'pass', observedValue: /embedded/ })

    client = { ping: async () => await delay(20, { topology: 'single', primary: '127.0.0.1:6379' }) }
    const ok = await redis.check()
    t.equal(ok.status, 'pass')
    const observed = ok.observedValue as { topology: string, primary: string, roundTripMs: number }
    t.match(observed, { topology: 'single', primary: '127.0.0.1:6379' })
    t.ok(observed.roundTripMs >= 15, `observed ${observed.roundTripMs} ms`)

    client = { ping: async () => ({ topology: 'cluster', state: 'fail' }) }
    t.match(await redis.check(), { status: 'fail', output: 'the redis cluster is fail' }, 'a cluster that is not ok fails')

    client = { ping: async () => { throw new Error('Connection is closed.') } }
    const c = clock()
    const health = new Health({ components: () => [redis], now: c.now })
    t.match((await health.results())[0], { status: 'warn', output: 'Connection is closed.' }, 'not required: warn')
    required.deny = true
    c.at += 1000
    t.match((await health.results())[0], { status: 'fail', output: 'Connection is closed.' }, 'required: fail')
  })

  t.test('config: hash, load time and last reload; a rejected reload warns', async (t) => {
    const loadedAt = new Date('2030-01-02T03:04:05.000Z')
    t.same(await configComponent(() => ({ hash: 'abc123', loadedAt })).check(), {
      status: 'pass',
      observedValue: { hash: 'abc123', loadedAt: '2030-01-02T03:04:05.000Z', lastReload: 'none' }
    })
    const at = new Date()
    t.match(await configComponent(() => ({ hash: 'abc123', loadedAt, lastReload: { ok: true, at } })).check(), {
      status: 'pass', observedValue: { lastReload: 'success' }
    })
    const rejected = await configComponent(() => ({ hash: 'abc123', loadedAt, lastReload: { ok: false, at, errors: ['plans: is required'] } })).check()
    t.match(rejected, { status: 'warn', observedValue: { hash: 'abc123', lastReload: 'failure', errors: ['plans: is required'] } })
    t.match(rejected.output, /abc123 still serves/)
  })

  t.test('event loop: a blocked loop warns, a free one passes', async (t) => {
    const loop = eventLoopComponent()
    await delay(50)
    const blockedUntil = Date.now() + 600
    while (Date.now() < blockedUntil) { /* a synchronous stall, as a CPU-bound handler would cause */ }
    await delay(50)
    const blocked = await loop.check()
    t.equal(blocked.status, 'warn')
    t.ok(typeof blocked.observedValue === 'number' && blocked.observedValue >= 550, `p99 ${String(blocked.observedValue)} ms`)
    t.equal(blocked.observedUnit, 'ms')
    await delay(200)
    const free = await loop.check()
    // Not `pass`: a busy test machine may delay the loop by 200 ms on its own.
    t.ok(typeof free.observedValue === 'number' && free.observedValue < 500, `p99 ${String(free.observedValue)} ms: the stall no longer counts, the histogram is reset at each read`)
    t.equal(loop.required(), false)
  })

  t.test('memory: near the heap limit warns', async (t) => {
    const limit = getHeapStatistics().heap_size_limit
    const usage = (heapUsed: number): NodeJS.MemoryUsage => ({ rss: heapUsed * 2, heapUsed, heapTotal: heapUsed, external: 0, arrayBuffers: 0 })
    t.match(await memoryComponent(() => usage(limit * 0.1)).check(), { status: 'pass', observedValue: { heapUsedRatio: 0.1 } })
    t.match(await memoryComponent(() => usage(limit * 0.95)).check(), { status: 'warn', observedValue: { heapUsedRatio: 0.95 }, output: /95%/ })
  })

  t.test('shutdown: live and required', async (t) => {
    const shutdown = shutdownComponent(() => false)
    t.equal(shutdown.live, true)
    t.equal(shutdown.required(), true)
    t.same(await shutdown.check(), { status: 'pass', observedValue: 'serving' })
  })
})
