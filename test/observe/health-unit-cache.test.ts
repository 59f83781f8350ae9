import { setTimeout as delay } from 'node:timers/promises'
import t from 'tap'
import { shutdownComponent } from '../../src/observe/components'
import { Health, type Component } from '../../src/observe/health'
import { byKey, clock, counting } from './health-fakes'

// Health's cache: results reused for a second, a storm of probes sharing one check, and
// live components never cached (health-fakes.ts has the fake components and clock).

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
