import t from 'tap'
import { Health, type Component, type Observation } from '../../src/observe/health'
import { byKey, clock, counting } from './health-fakes'

// Health's checks: run concurrently, timed out, thrown, required or not, and the fields
// of each result (health-fakes.ts has the fake components and clock).

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
