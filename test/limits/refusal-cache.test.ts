import { once } from 'node:events'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import type { Test } from 'tap'
import { Redis } from 'ioredis'
import { Limiter } from '../../src/limits/limiter'
import type { PlanLimits } from '../../src/limits/policy'
import { RedisLimitStore } from '../../src/limits/store-redis'
import type { LimitStore } from '../../src/limits/types'
import { startRedis } from '../helpers/redis'

// A client over its limit is answered from memory until its window allows again, on a
// real Redis: what reaches the store, what never does, and that nothing the store would
// refuse is ever admitted. (End to end, with abuse and legitimate traffic at once:
// test/proxy/refused-clients.test.ts.)

function plan (name: string, max: number, perMs: number, algorithm: 'fixed' | 'gcra' | 'sliding'): PlanLimits {
  return {
    plan: name,
    policyHeader: `"${name}";q=${max};w=${perMs / 1000}`,
    windows: [{ policy: name, scope: `${name}:0`, max, perMs, algorithm }]
  }
}

/** The real Redis store, counting what it is asked. */
function counting (store: LimitStore): { store: LimitStore, checks: () => number } {
  let checks = 0
  return {
    store: {
      check: async (request) => { checks++; return await store.check(request) },
      checkGroups: async (request) => await store.checkGroups(request),
      close: async () => await store.close()
    },
    checks: () => checks
  }
}

async function redisStore (t: Test): Promise<RedisLimitStore> {
  const server = await startRedis(t)
  const redis = new Redis({ host: '127.0.0.1', port: server.port, enableOfflineQueue: false, maxRetriesPerRequest: 0 })
  redis.on('error', () => {})
  t.teardown(() => redis.disconnect())
  await once(redis, 'ready')
  return new RedisLimitStore(redis)
}

t.test('refusals', async (t) => {
  const shared = await redisStore(t)
  let serial = 0
  const subject = (): string => `client-${++serial}-${Date.now()}`

  for (const algorithm of ['fixed', 'gcra', 'sliding'] as const) {
    t.test(`${algorithm}: after the first refusal the store is not asked until the wait is over`, async (t) => {
      const { store, checks } = counting(shared)
      const limiter = new Limiter({ store, onStoreError: 'deny', shadow: false, maxChecksInFlight: 1000 })
      const limits = plan(`p-${algorithm}`, 3, 2000, algorithm)
      const who = subject()
      // Fixed windows are aligned on Redis' clock, which is this host's: start just after
      // a boundary so the 50 checks fall in one window.
      await sleep(2000 - (Date.now() % 2000) + 20)
      const outcomes: string[] = []
      for (let i = 0; i < 50; i++) outcomes.push((await limiter.decide(who, limits, 1)).outcome)
      t.same(outcomes.filter((o) => o === 'allowed').length, 3, 'exactly max admitted')
      t.equal(checks(), 4, 'three admissions and one refusal asked the store; 46 refusals did not')
      const remembered = await limiter.decide(who, limits, 1)
      t.equal(remembered.refusal, 'rate_limited')
      t.equal(remembered.binding?.remaining, 0)
      t.ok((remembered.binding?.resetSeconds ?? 0) >= 1, 'Retry-After is at least a second')
      // sliding may wait into the next window, where this one's count still weighs.
      const longest = algorithm === 'sliding' ? 4000 : 2000
      t.ok(remembered.windows?.every((w) => w.resetMs >= 1 && w.resetMs <= longest), 'each wait counted down, within what the store said')

      // Once the wait is over the store decides again, and admits.
      const waitMs = Math.max(...(remembered.windows ?? []).map((w) => w.resetMs))
      await sleep(waitMs + 20)
      const after = await limiter.decide(who, limits, 1)
      t.equal(after.outcome, 'allowed', 'allowed again once the store allows')
      t.equal(checks(), 5, 'asked the store')
    })
  }

  t.test('a smaller cost, other windows, another client and shadow are asked of the store', async (t) => {
    const { store, checks } = counting(shared)
    const limiter = new Limiter({ store, onStoreError: 'deny', shadow: false, maxChecksInFlight: 1000 })
    const limits = plan('costly', 10, 60_000, 'gcra')
    const who = subject()
    t.equal((await limiter.decide(who, limits, 8)).outcome, 'allowed')
    t.equal((await limiter.decide(who, limits, 5)).outcome, 'limited', '8 + 5 > 10')
    t.equal(checks(), 2)
    t.equal((await limiter.decide(who, limits, 5)).outcome, 'limited', 'the same cost: refused from memory')
    t.equal(checks(), 2)
    t.equal((await limiter.decide(who, limits, 6)).outcome, 'limited', 'a larger cost: asked (another window may name a longer wait)')
    t.equal(checks(), 3)
    t.equal((await limiter.decide(who, limits, 2)).outcome, 'allowed', 'a smaller cost may fit: asked, and admitted')
    t.equal(checks(), 4)

    const other = plan('other', 10, 60_000, 'gcra')
    t.equal((await limiter.decide(who, other, 1)).outcome, 'allowed', 'another plan or route: its own windows')
    t.equal((await limiter.decide(subject(), limits, 1)).outcome, 'allowed', 'another client')
    t.equal(checks(), 6)

    const shadowLimiter = new Limiter({ store, onStoreError: 'deny', shadow: true, maxChecksInFlight: 1000 })
    const shadowed = subject()
    await shadowLimiter.decide(shadowed, plan('tiny', 1, 60_000, 'fixed'), 1)
    const before = checks()
    for (let i = 0; i < 5; i++) t.equal((await shadowLimiter.decide(shadowed, plan('tiny', 1, 60_000, 'fixed'), 1)).outcome, 'would_limit')
    t.equal(checks() - before, 5, 'shadow refuses nothing, so it remembers nothing: every check counted by the store')
  })

  t.test('a remembered refusal still answers when the store is gone', async (t) => {
    const server = await startRedis(t)
    const redis = new Redis({ host: '127.0.0.1', port: server.port, enableOfflineQueue: false, maxRetriesPerRequest: 0 })
    redis.on('error', () => {})
    t.teardown(() => redis.disconnect())
    await once(redis, 'ready')
    const limiter = new Limiter({ store: new RedisLimitStore(redis), onStoreError: 'allow', shadow: false, maxChecksInFlight: 1000 })
    const limits = plan('gone', 1, 60_000, 'fixed')
    const who = subject()
    await limiter.decide(who, limits, 1)
    t.equal((await limiter.decide(who, limits, 1)).outcome, 'limited')
    await server.kill()
    t.equal((await limiter.decide(who, limits, 1)).outcome, 'limited', 'refused as Redis said, not let through by on_redis_error: allow')
    t.equal((await limiter.decide(subject(), limits, 1)).outcome, 'degraded', 'another client goes by on_redis_error')
  })
})
