import t, { type Test } from 'tap'
import { rateLimitFields } from '../../src/limits/fields'
import { Limiter } from '../../src/limits/limiter'
import type { PlanLimits } from '../../src/limits/policy'
import { MemoryLimitStore } from '../../src/limits/store-memory'
import type { LimitStore, WindowSpec } from '../../src/limits/types'

// The binding window: which of a plan's windows the client is told about, and what
// happens when there is none to tell.

function memoryLimiter (t: Test): Limiter {
  const store = new MemoryLimitStore({ now: () => 1_000_000 })
  t.teardown(async () => { await store.close() })
  return new Limiter({ store, onStoreError: 'allow', shadow: false, maxChecksInFlight: 10 })
}

const second: WindowSpec = { policy: 'free-1s', scope: 'plan:0', max: 3, perMs: 1000, algorithm: 'fixed' }
const day: WindowSpec = { policy: 'free-1d', scope: 'plan:1', max: 5, perMs: 86_400_000, algorithm: 'fixed' }
const free: PlanLimits = { plan: 'free', windows: [second, day], policyHeader: '"free-1s";q=3;w=1, "free-1d";q=5;w=86400' }

t.test('allowed: the window with the least left binds; refused: the one that keeps the client out longest', async (t) => {
  const limiter = memoryLimiter(t)
  t.match(await limiter.decide('acme', free, 1), { outcome: 'allowed', binding: { policy: 'free-1s', remaining: 2 } })
  t.match(await limiter.decide('acme', free, 2), { outcome: 'allowed', binding: { policy: 'free-1s', remaining: 0 } })
  const refused = await limiter.decide('acme', free, 1)
  t.match(refused, { outcome: 'limited', refusal: 'rate_limited', binding: { policy: 'free-1s', remaining: 0, resetSeconds: 1 } })
  t.match(await limiter.decide('acme', free, 3), { outcome: 'limited', binding: { policy: 'free-1d', remaining: 2 } }, 'cost 3 never fits the day again')
})

t.test('a plan with no windows: allowed, and only its (empty) policy is stated', async (t) => {
  const limiter = memoryLimiter(t)
  const none: PlanLimits = { plan: 'none', windows: [], policyHeader: '' }
  const decision = await limiter.decide('acme', none, 1)
  t.match(decision, { outcome: 'allowed', windows: [] })
  t.equal(decision.refusal, undefined)
  t.equal(decision.binding, undefined)
  t.same(rateLimitFields(decision), [['ratelimit-policy', '']])
  const groups = await limiter.decideGroups('rls:test', [{ subject: 'acme', limits: none, advisory: false }], 1)
  t.equal(groups.allowed, true)
  t.equal(groups.groups[0]?.binding, undefined)
})

t.test('a store that answers fewer windows than it was asked is an error that says so', async (t) => {
  const store: LimitStore = {
    check: async () => ({ allowed: true, windows: [] }),
    checkGroups: async () => ({ allowed: true, groups: [] }),
    close: async () => {}
  }
  const limiter = new Limiter({ store, onStoreError: 'allow', shadow: false, maxChecksInFlight: 10 })
  await t.rejects(limiter.decide('acme', free, 1), { message: 'the store answered 0 windows for 2' })
})
