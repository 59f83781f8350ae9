import { getHeapStatistics } from 'node:v8'
import { setTimeout as delay } from 'node:timers/promises'
import t from 'tap'
import {
  configComponent,
  eventLoopComponent,
  memoryComponent,
  redisComponent,
  shutdownComponent,
  upstreamComponent
} from '../../src/observe/components'
import { Health } from '../../src/observe/health'
import { clock } from './health-fakes'

// The real components, each on its own: upstream, redis, config, event loop, memory and
// shutdown (health-fakes.ts has the fake clock).

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
