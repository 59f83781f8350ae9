import t from 'tap'
import { BreakingStore } from '../../src/limits/breaker'
import type { RedisErrorMode } from '../../src/config'
import { Limiter } from '../../src/limits/limiter'
import type { PlanLimits } from '../../src/limits/policy'
import { RedisFailure } from '../../src/limits/store-errors'
import type { LimitResult, LimitStore } from '../../src/limits/types'

// The bound on checks in flight, on a store whose answers the test releases by hand:
// what is shed, what is not, and that shedding never lets a request through unchecked.
// (End to end, with a real burst against a real Redis: deadline-burst.test.ts.)

const limits: PlanLimits = {
  plan: 'free',
  policyHeader: '"free-1m";q=5;w=60',
  windows: [{ policy: 'free-1m', scope: 'plan:0', max: 5, perMs: 60_000, algorithm: 'gcra' }]
}
const allowed: LimitResult = { allowed: true, windows: [{ allowed: true, remaining: 4, resetMs: 12_000 }] }

/** A store that holds every check until `release()`. */
function heldStore (): { store: LimitStore, calls: () => number, release: () => void } {
  let calls = 0
  let waiting: Array<() => void> = []
  return {
    store: {
      check: async () => {
        calls++
        await new Promise<void>((resolve) => waiting.push(resolve))
        return allowed
      },
      checkGroups: async () => { throw new Error('not used here') },
      close: async () => {}
    },
    calls: () => calls,
    release: () => {
      for (const resolve of waiting) resolve()
      waiting = []
    }
  }
}

for (const mode of ['allow', 'deny', 'local'] as RedisErrorMode[]) {
  t.test(`past max_checks_in_flight a request is shed, not let through (on_redis_error: ${mode})`, async (t) => {
    const held = heldStore()
    const failures: string[] = []
    const limiter = new Limiter({ store: held.store, onStoreError: mode, shadow: false, maxChecksInFlight: 3, events: { onStoreFailure: (kind) => failures.push(kind) } })
    const pending = [1, 2, 3].map(async () => await limiter.decide('acme', limits, 1))
    const shed = await limiter.decide('acme', limits, 1)
    t.same(shed, { outcome: 'overloaded', refusal: 'overloaded', policyHeader: limits.policyHeader }, 'refused at once, whatever on_redis_error says')
    t.equal(held.calls(), 3, 'the store was not asked')
    t.same(failures, [], 'shedding is not a store failure')
    held.release()
    for (const decision of await Promise.all(pending)) t.equal(decision.outcome, 'allowed')
    const next = limiter.decide('acme', limits, 1)
    held.release()
    await Promise.resolve()
    t.equal((await next).outcome, 'allowed', 'once checks complete, requests are checked again')
  })
}

t.test('a check that fails frees its place too', async (t) => {
  let fail = true
  const limiter = new Limiter({
    store: { check: async () => { if (fail) throw new RedisFailure('connection', 'redis is not reachable'); return allowed }, checkGroups: async () => { throw new Error('not used here') }, close: async () => {} },
    onStoreError: 'allow',
    shadow: false,
    maxChecksInFlight: 1
  })
  for (let i = 0; i < 3; i++) t.equal((await limiter.decide('acme', limits, 1)).outcome, 'degraded')
  fail = false
  t.equal((await limiter.decide('acme', limits, 1)).outcome, 'allowed')
})

t.test('shadow mode counts a shed request as overloaded and refuses nothing', async (t) => {
  const held = heldStore()
  const limiter = new Limiter({ store: held.store, onStoreError: 'deny', shadow: true, maxChecksInFlight: 1 })
  const pending = limiter.decide('acme', limits, 1)
  t.same(await limiter.decide('acme', limits, 1), { outcome: 'overloaded', policyHeader: limits.policyHeader })
  held.release()
  await pending
})

t.test('shedding never moves the circuit breaker', async (t) => {
  const held = heldStore()
  const store = new BreakingStore(held.store, { failureThreshold: 1 })
  const limiter = new Limiter({ store, onStoreError: 'allow', shadow: false, maxChecksInFlight: 1 })
  const pending = limiter.decide('acme', limits, 1)
  for (let i = 0; i < 10; i++) t.equal((await limiter.decide('acme', limits, 1)).outcome, 'overloaded')
  t.equal(store.state, 'closed')
  held.release()
  t.equal((await pending).outcome, 'allowed')
})
