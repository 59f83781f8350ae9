import t from 'tap'
import { BreakingStore, CircuitOpenError, type CircuitState } from '../../src/limits/breaker'
import { InvalidLimitRequestError, RedisTimeoutError } from '../../src/limits/store-errors'
import type { LimitRequest, LimitResult, LimitStore } from '../../src/limits/types'

// The breaker's state machine on an injected clock, over a store that fails on demand.
// (Against a real hung redis-server: test/proxy/enforce-redis-down.test.ts.)

const request: LimitRequest = { subject: 'acme', cost: 1, windows: [{ policy: 'p', scope: 's', max: 1, perMs: 1000, algorithm: 'gcra' }] }
const ok: LimitResult = { allowed: true, windows: [{ allowed: true, remaining: 0, resetMs: 1000 }] }

interface Inner { failing: boolean, calls: number, error: () => Error }

function setup (): { store: BreakingStore, inner: Inner, clock: { now: number }, states: CircuitState[] } {
  const inner: Inner = { failing: true, calls: 0, error: () => new RedisTimeoutError(250) }
  const backing: LimitStore = {
    check: async () => {
      inner.calls++
      if (inner.failing) throw inner.error()
      return ok
    },
    checkGroups: async () => {
      inner.calls++
      if (inner.failing) throw inner.error()
      return { allowed: true, groups: [ok] }
    },
    close: async () => {}
  }
  const clock = { now: 0 }
  const states: CircuitState[] = []
  const store = new BreakingStore(backing, { failureThreshold: 3, openMs: 100, maxOpenMs: 400, now: () => clock.now, onStateChange: (s) => states.push(s) })
  return { store, inner, clock, states }
}

t.test('opens after the threshold and stops calling the store', async (t) => {
  const { store, inner } = setup()
  for (let i = 0; i < 3; i++) await t.rejects(store.check(request), /timed out/)
  t.equal(store.state, 'open')
  await t.rejects(store.check(request), CircuitOpenError)
  t.equal(inner.calls, 3, 'the open circuit answered without calling the store')
})

t.test('probes after the pause: a failed probe doubles it, a good one closes', async (t) => {
  const { store, inner, clock, states } = setup()
  for (let i = 0; i < 3; i++) await t.rejects(store.check(request))
  clock.now = 100
  await t.rejects(store.check(request), /timed out/, 'the probe reached the store and failed')
  t.equal(inner.calls, 4)
  clock.now = 250
  await t.rejects(store.check(request), CircuitOpenError, 'pause is now 200 ms')
  clock.now = 300
  inner.failing = false
  t.same(await store.check(request), ok)
  t.equal(store.state, 'closed')
  t.same(states, ['open', 'half_open', 'open', 'half_open', 'closed'])
})

t.test('only one probe at a time while half-open', async (t) => {
  const { store, inner, clock } = setup()
  for (let i = 0; i < 3; i++) await t.rejects(store.check(request))
  clock.now = 100
  inner.failing = false
  const probe = store.check(request)
  await t.rejects(store.check(request), CircuitOpenError, 'a second request during the probe is not sent')
  t.same(await probe, ok)
  t.equal(inner.calls, 4)
})

t.test('failures below the threshold are forgotten after a success', async (t) => {
  const { store, inner } = setup()
  await t.rejects(store.check(request))
  await t.rejects(store.check(request))
  inner.failing = false
  await store.check(request)
  inner.failing = true
  await t.rejects(store.check(request))
  await t.rejects(store.check(request))
  t.equal(store.state, 'closed')
})

t.test('multi-subject checks go through the same circuit', async (t) => {
  const { store, inner } = setup()
  const groups = { tag: 'rls:edge', cost: 1, groups: [{ subject: 'acme', windows: request.windows }] }
  for (let i = 0; i < 3; i++) await t.rejects(store.checkGroups(groups), /timed out/)
  t.equal(store.state, 'open')
  await t.rejects(store.check(request), CircuitOpenError, 'a plain check is cut off too')
  t.equal(inner.calls, 3)
})

// Regression: `max` out of the store's range made every check of one key fail with the
// store's own error; the breaker counted those as Redis failures and opened, so every
// other key was decided without Redis too.
t.test('an error that is not Redis\' never opens the circuit', async (t) => {
  const { store, inner, states } = setup()
  inner.error = () => new InvalidLimitRequestError('plan:0: max must be an integer from 1 to 1000000000, got 2000000000')
  for (let i = 0; i < 20; i++) await t.rejects(store.check(request), InvalidLimitRequestError)
  t.equal(store.state, 'closed')
  t.same(states, [])
  inner.error = () => new RedisTimeoutError(250)
  await t.rejects(store.check(request), RedisTimeoutError)
  await t.rejects(store.check(request), RedisTimeoutError)
  t.equal(store.state, 'closed', 'nor did they count towards the threshold')
})

t.test('a probe that ends in an error not Redis\' leaves the next request to probe', async (t) => {
  const { store, inner, clock } = setup()
  for (let i = 0; i < 3; i++) await t.rejects(store.check(request))
  clock.now = 100
  inner.error = () => new InvalidLimitRequestError('bad request')
  await t.rejects(store.check(request), InvalidLimitRequestError)
  t.equal(store.state, 'half_open')
  inner.failing = false
  t.same(await store.check(request), ok, 'the next request probed at once, with no new pause')
  t.equal(store.state, 'closed')
})

t.test('probeSoon (Redis reconnected): the next request probes without waiting out the pause', async (t) => {
  const { store, inner, clock } = setup()
  for (let i = 0; i < 3; i++) await t.rejects(store.check(request))
  clock.now = 100
  await t.rejects(store.check(request), RedisTimeoutError, 'a failed probe: the pause is now 200 ms')
  clock.now = 150
  await t.rejects(store.check(request), CircuitOpenError)
  store.probeSoon()
  inner.failing = false
  t.same(await store.check(request), ok)
  t.equal(store.state, 'closed')
})

t.test('the defaults probe within 100 ms and never pause more than 1 s', async (t) => {
  const inner = { failing: true }
  const clock = { now: 0 }
  const store = new BreakingStore({
    check: async () => { if (inner.failing) throw new RedisTimeoutError(250); return ok },
    checkGroups: async () => { throw new Error('not used here') },
    close: async () => {}
  }, { now: () => clock.now })
  for (let i = 0; i < 5; i++) await t.rejects(store.check(request))
  t.equal(store.state, 'open')
  // Failed probes double the pause: 100, 200, 400, 800, then 1000 ms at most.
  for (const pause of [100, 200, 400, 800, 1000, 1000]) {
    clock.now += pause - 1
    await t.rejects(store.check(request), CircuitOpenError, `still open ${pause - 1} ms in`)
    clock.now += 1
    await t.rejects(store.check(request), RedisTimeoutError, `probed after ${pause} ms`)
  }
})
