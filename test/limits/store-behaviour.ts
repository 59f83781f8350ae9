import type { Test } from 'tap'
import { InvalidLimitRequestError } from '../../src/limits/store-errors'
import { at } from '../helpers/at'
import type { Algorithm, GroupsResult, LimitGroup, LimitRequest, LimitResult, LimitStore, WindowSpec } from '../../src/limits/types'

/**
 * What every LimitStore must do, run against each store by its own test file. Time is
 * the harness's: a fake clock moved instantly for the memory store, real waits (kept
 * short) for Redis, where `slackMs` absorbs the time that passes between two calls.
 */
export interface Harness {
  /** `n` stores sharing one state (Redis: one connection each), closed at teardown. */
  stores(t: Test, n: number): LimitStore[]
  /** The store's clock, in ms since the epoch. */
  now(): number
  /** Moves the clock forward: instantly when fake, a real wait otherwise. */
  sleep(ms: number): Promise<void>
  /** How far real time may drift between two steps: 0 with a fake clock. */
  readonly slackMs: number
}

export const ALGORITHMS: readonly Algorithm[] = ['gcra', 'fixed', 'sliding']

/**
 * 2^40 ms (~35 years): its fixed and sliding windows next turn over in 2039, and a gcra
 * bucket of a few units drains less than a micro-unit during a test. For counts that
 * must not move while the test runs.
 */
export const LONG = 2 ** 40

let subjects = 0
/** A fresh subject per test, so tests sharing one Redis never share state. */
export function freshSubject (): string {
  subjects += 1
  return `test-${process.pid}-${Date.now()}-${subjects}`
}

export function win (algorithm: Algorithm, max: number, perMs: number, scope = 'plan:0'): WindowSpec {
  return { policy: `p-${max}`, scope, max, perMs, algorithm }
}

function check (store: LimitStore, subject: string, windows: WindowSpec[], cost = 1): Promise<LimitResult> {
  const request: LimitRequest = { subject, windows, cost }
  return store.check(request)
}

function checkGroups (store: LimitStore, groups: LimitGroup[], cost = 1, tag = 'rls:test'): Promise<GroupsResult> {
  return store.checkGroups({ tag, groups, cost })
}

/** Waits until `offsetMs` into the next window of `perMs` on the harness clock. */
async function nextWindow (h: Harness, perMs: number, offsetMs: number): Promise<void> {
  const now = h.now()
  await h.sleep(Math.floor(now / perMs) * perMs + perMs + offsetMs - now)
}

/** Makes sure at least `needMs` remain in the current window of `perMs`. */
async function settle (h: Harness, perMs: number, needMs: number): Promise<void> {
  if (perMs - (h.now() % perMs) < needMs) await nextWindow(h, perMs, 0)
}

function near (t: Test, actual: number, expected: number, slack: number, message: string): void {
  t.ok(
    actual <= expected + slack && actual >= expected - slack,
    `${message}: ${actual} within ${slack} of ${expected}`
  )
}

export function storeBehaviour (t: Test, h: Harness): void {
  for (const algorithm of ALGORITHMS) {
    t.test(`${algorithm}: max 5 allows exactly 5, counting down remaining`, async (t) => {
      const store = at(h.stores(t, 1), 0)
      const s = freshSubject()
      const w = win(algorithm, 5, LONG)
      for (let left = 4; left >= 0; left--) {
        const r = await check(store, s, [w])
        t.equal(r.allowed, true)
        t.equal(at(r.windows, 0).remaining, left)
      }
      const refused = await check(store, s, [w])
      t.equal(refused.allowed, false)
      t.match(at(refused.windows, 0), { allowed: false, remaining: 0 })
    })

    t.test(`${algorithm}: 100 concurrent checks against max 10 allow exactly 10`, async (t) => {
      const stores = h.stores(t, 4)
      const s = freshSubject()
      const w = win(algorithm, 10, LONG)
      const results = await Promise.all(
        Array.from({ length: 100 }, (_, i) => check(at(stores, i % stores.length), s, [w]))
      )
      t.equal(results.filter((r) => r.allowed).length, 10)
      t.ok(results.every((r) => at(r.windows, 0).remaining >= 0 && at(r.windows, 0).remaining < 10))
    })

    t.test(`${algorithm}: cost above max is always refused and spends nothing`, async (t) => {
      const store = at(h.stores(t, 1), 0)
      const s = freshSubject()
      const w = win(algorithm, 2, LONG)
      const r = await check(store, s, [w], 3)
      t.equal(r.allowed, false)
      t.equal(at(r.windows, 0).remaining, 2)
      // No wait makes it fit: report a whole period (fixed: the window's end).
      const wait = algorithm === 'fixed' ? 2 * LONG - h.now() : LONG
      near(t, at(r.windows, 0).resetMs, wait, h.slackMs, 'resetMs')
      t.equal((await check(store, s, [w], 2)).allowed, true, 'the refused cost was not spent')
    })

    t.test(`${algorithm}: raising max keeps what was spent`, async (t) => {
      const store = at(h.stores(t, 1), 0)
      const s = freshSubject()
      await check(store, s, [win(algorithm, 2, LONG)])
      await check(store, s, [win(algorithm, 2, LONG)])
      t.equal((await check(store, s, [win(algorithm, 2, LONG)])).allowed, false)
      const raised = await check(store, s, [win(algorithm, 50, LONG)])
      t.match(raised, { allowed: true, windows: [{ remaining: 47 }] }, '48 were left, 1 spent')
      const lowered = await check(store, s, [win(algorithm, 2, LONG)])
      t.match(lowered, { allowed: false, windows: [{ remaining: 0 }] })
    })
  }

  t.test('every window must allow; a refusal spends nothing anywhere', async (t) => {
    const store = at(h.stores(t, 1), 0)
    const s = freshSubject()
    const narrow = win('gcra', 3, LONG, 'plan:0')
    const wide = win('fixed', 5, LONG, 'plan:1')
    for (let i = 0; i < 3; i++) t.equal((await check(store, s, [narrow, wide])).allowed, true)
    const r = await check(store, s, [narrow, wide])
    t.equal(r.allowed, false)
    t.match(r.windows, [{ allowed: false, remaining: 0 }, { allowed: true, remaining: 2 }])
    t.equal((await check(store, s, [wide])).windows[0]?.remaining, 1, 'wide spent 3, not 4')
    t.equal((await check(store, s, [wide])).windows[0]?.remaining, 0)
    t.equal((await check(store, s, [wide])).allowed, false)
  })

  t.test('cost spends that many in every window', async (t) => {
    const store = at(h.stores(t, 1), 0)
    const s = freshSubject()
    const a = win('sliding', 10, LONG, 'plan:0')
    const b = win('gcra', 7, LONG, 'route:POST /v1/upload/*:0')
    t.match(await check(store, s, [a, b], 3), { allowed: true, windows: [{ remaining: 7 }, { remaining: 4 }] })
    const refused = await check(store, s, [a, b], 5)
    t.match(refused, {
      allowed: false,
      windows: [{ allowed: true, remaining: 7 }, { allowed: false, remaining: 4 }],
    })
    t.match(await check(store, s, [a, b], 4), { allowed: true, windows: [{ remaining: 3 }, { remaining: 0 }] })
  })

  t.test('resetMs: gcra until empty, fixed and sliding until the window ends', async (t) => {
    const store = at(h.stores(t, 1), 0)
    const s = freshSubject()
    const windows = [win('gcra', 4, LONG, 'g'), win('fixed', 4, LONG, 'f'), win('sliding', 4, LONG, 's')]
    const first = await check(store, s, windows)
    const end = 2 * LONG - h.now()
    t.equal(at(first.windows, 0).resetMs, LONG / 4, 'gcra drains 1 unit in per/max')
    near(t, at(first.windows, 1).resetMs, end, h.slackMs, 'fixed')
    near(t, at(first.windows, 2).resetMs, end, h.slackMs, 'sliding')
    t.equal((await check(store, s, windows)).windows[0]?.resetMs, LONG / 2)
  })

  t.test('fixed 1d windows end at 00:00 UTC', async (t) => {
    const store = at(h.stores(t, 1), 0)
    const now = h.now()
    const midnight = Date.UTC(new Date(now).getUTCFullYear(), new Date(now).getUTCMonth(), new Date(now).getUTCDate() + 1)
    const r = await check(store, freshSubject(), [win('fixed', 1000, 86_400_000)])
    near(t, at(r.windows, 0).resetMs, midnight - now, h.slackMs, 'resetMs')
  })

  t.test('gcra: a burst of max, then a smooth refill', async (t) => {
    const store = at(h.stores(t, 1), 0)
    const s = freshSubject()
    const w = win('gcra', 4, 1000)
    for (let i = 0; i < 4; i++) t.equal((await check(store, s, [w])).allowed, true, `burst ${i + 1}`)
    const refused = await check(store, s, [w])
    t.match(refused, { allowed: false, windows: [{ remaining: 0 }] })
    near(t, at(refused.windows, 0).resetMs, 250, h.slackMs, 'one unit drains in 250 ms')
    await h.sleep(at(refused.windows, 0).resetMs + h.slackMs)
    const one = await check(store, s, [w])
    t.match(one, { allowed: true, windows: [{ remaining: 0 }] })
    // the sleep's margin drained a little more, so it is full a little sooner
    near(t, at(one.windows, 0).resetMs, 1000, 2 * h.slackMs, 'full after 1 s')
    t.equal((await check(store, s, [w])).allowed, false, 'only one unit came back')
    await h.sleep(500 + h.slackMs)
    t.match(await check(store, s, [w]), { allowed: true, windows: [{ remaining: 1 }] })
    t.match(await check(store, s, [w]), { allowed: true, windows: [{ remaining: 0 }] })
  })

  t.test('fixed: the count resets at a multiple of per', async (t) => {
    const store = at(h.stores(t, 1), 0)
    const s = freshSubject()
    const w = win('fixed', 2, 1000)
    await nextWindow(h, 1000, 100)
    t.equal((await check(store, s, [w], 2)).allowed, true)
    const refused = await check(store, s, [w])
    t.match(refused, { allowed: false, windows: [{ remaining: 0 }] })
    near(t, at(refused.windows, 0).resetMs, 900, h.slackMs, 'until the window ends')
    const end = h.now() + at(refused.windows, 0).resetMs
    near(t, ((end + 500) % 1000) - 500, 0, h.slackMs, 'ends at a multiple of 1 s')
    await h.sleep(at(refused.windows, 0).resetMs + h.slackMs)
    t.match(await check(store, s, [w]), { allowed: true, windows: [{ remaining: 1 }] })
  })

  t.test('sliding: the previous window counts by the share of it still in view', async (t) => {
    const store = at(h.stores(t, 1), 0)
    const s = freshSubject()
    const per = 2000
    const w = win('sliding', 10, per)
    await settle(h, per, 200)
    t.equal((await check(store, s, [w], 10)).allowed, true)
    await nextWindow(h, per, 400)
    // estimate = 10 * 80% + 0 = 8
    t.match(await check(store, s, [w]), { allowed: true, windows: [{ remaining: 1 }] })
    t.match(await check(store, s, [w]), { allowed: true, windows: [{ remaining: 0 }] })
    const refused = await check(store, s, [w])
    t.equal(refused.allowed, false)
    // fits once 10 * share + 2 + 1 <= 10: at 30% of the window, 200 ms on
    near(t, at(refused.windows, 0).resetMs, 200, h.slackMs, 'until prev decays enough')
    await h.sleep(at(refused.windows, 0).resetMs + h.slackMs)
    const after = await check(store, s, [w])
    t.equal(after.allowed, true)
    near(t, at(after.windows, 0).resetMs, per - 600, 2 * h.slackMs, 'allowed: until the window ends')
  })

  t.test('sliding: a full current window waits into the next one', async (t) => {
    const store = at(h.stores(t, 1), 0)
    const s = freshSubject()
    const per = 1000
    const w = win('sliding', 10, per)
    await settle(h, per, 200)
    t.equal((await check(store, s, [w], 10)).allowed, true)
    const refused = await check(store, s, [w])
    // next window: fits once 10 * (1 - elapsed/per) + 1 <= 10, i.e. 10% into it
    const expected = per - (h.now() % per) + 100
    t.equal(refused.allowed, false)
    near(t, at(refused.windows, 0).resetMs, expected, h.slackMs, 'resetMs')
  })

  t.test('malformed requests are rejected before touching state', async (t) => {
    const store = at(h.stores(t, 1), 0)
    const w = win('gcra', 5, 1000)
    await t.rejects(check(store, '', [w]), InvalidLimitRequestError)
    await t.rejects(check(store, freshSubject(), [w], -1), InvalidLimitRequestError)
    await t.rejects(check(store, freshSubject(), [w], 1.5), InvalidLimitRequestError)
    await t.rejects(check(store, freshSubject(), [w, { ...w, max: 9 }]), /appears twice/)
    await t.rejects(check(store, freshSubject(), [{ ...w, max: 0 }]), /max/)
    await t.rejects(check(store, freshSubject(), [{ ...w, perMs: 0 }]), /perMs/)
  })

  t.test('groups: each subject spends in its own windows, all at once', async (t) => {
    const store = at(h.stores(t, 1), 0)
    const [a, b] = [freshSubject(), freshSubject()]
    const w = win('gcra', 3, LONG)
    const r = await checkGroups(store, [{ subject: a, windows: [w] }, { subject: b, windows: [w, win('fixed', 5, LONG, 'plan:1')] }], 2)
    t.match(r, { allowed: true, groups: [{ allowed: true, windows: [{ remaining: 1 }] }, { allowed: true, windows: [{ remaining: 1 }, { remaining: 3 }] }] })
    const only = await checkGroups(store, [{ subject: a, windows: [w] }])
    t.match(only, { allowed: true, groups: [{ windows: [{ remaining: 0 }] }] })
  })

  t.test('groups: one refusing group refuses the call, and nothing is spent anywhere', async (t) => {
    const store = at(h.stores(t, 1), 0)
    const [a, b] = [freshSubject(), freshSubject()]
    const w = win('fixed', 2, LONG)
    await checkGroups(store, [{ subject: b, windows: [w] }], 2)
    const refused = await checkGroups(store, [{ subject: a, windows: [w] }, { subject: b, windows: [w] }])
    t.match(refused, {
      allowed: false,
      groups: [{ allowed: true, windows: [{ allowed: true, remaining: 2 }] }, { allowed: false, windows: [{ allowed: false, remaining: 0 }] }],
    })
    t.match(await checkGroups(store, [{ subject: a, windows: [w] }], 2), { allowed: true, groups: [{ windows: [{ remaining: 0 }] }] }, 'a spent nothing')
  })

  t.test('groups: an advisory group reports its refusal but never refuses the call', async (t) => {
    const store = at(h.stores(t, 1), 0)
    const [a, b] = [freshSubject(), freshSubject()]
    const w = win('gcra', 1, LONG)
    const first = await checkGroups(store, [{ subject: a, windows: [w] }, { subject: b, windows: [w], advisory: true }])
    t.match(first, { allowed: true, groups: [{ allowed: true }, { allowed: true }] })
    const second = await checkGroups(store, [{ subject: freshSubject(), windows: [w] }, { subject: b, windows: [w], advisory: true }])
    t.match(second, { allowed: true, groups: [{ allowed: true, windows: [{ remaining: 0 }] }, { allowed: false, windows: [{ allowed: false, remaining: 0 }] }] })
  })

  t.test('groups: 60 concurrent calls over two subjects spend both exactly up to max', async (t) => {
    const stores = h.stores(t, 4)
    const [a, b] = [freshSubject(), freshSubject()]
    const w = win('sliding', 10, LONG)
    const results = await Promise.all(Array.from({ length: 60 }, (_, i) =>
      checkGroups(at(stores, i % stores.length), i % 2 === 0 ? [{ subject: a, windows: [w] }, { subject: b, windows: [w] }] : [{ subject: a, windows: [w] }])
    ))
    const pairs = results.filter((r, i) => r.allowed && i % 2 === 0).length
    const singles = results.filter((r, i) => r.allowed && i % 2 === 1).length
    t.equal(pairs + singles, 10, 'a allowed exactly 10')
    // b spent once per allowed pair: one more fits, unless all of a's 10 came in pairs
    // (which ioredis 6's send order makes common: the old expectation failed 1 run in 3).
    const expected = pairs < 10 ? { allowed: true, remaining: 10 - pairs - 1 } : { allowed: false, remaining: 0 }
    t.match(await checkGroups(at(stores, 0), [{ subject: b, windows: [w] }]), { allowed: expected.allowed, groups: [{ windows: [{ remaining: expected.remaining }] }] }, `b spent only with a (${pairs} pairs)`)
  })

  t.test('groups: their keys are apart from check()\'s, and apart per tag', async (t) => {
    const store = at(h.stores(t, 1), 0)
    const s = freshSubject()
    const w = win('gcra', 1, LONG)
    t.equal((await check(store, s, [w])).allowed, true)
    t.equal((await checkGroups(store, [{ subject: s, windows: [w] }], 1, 'rls:one')).allowed, true)
    t.equal((await checkGroups(store, [{ subject: s, windows: [w] }], 1, 'rls:two')).allowed, true)
    t.equal((await checkGroups(store, [{ subject: s, windows: [w] }], 1, 'rls:one')).allowed, false)
  })

  t.test('groups: malformed calls are rejected before touching state', async (t) => {
    const store = at(h.stores(t, 1), 0)
    const w = win('gcra', 5, 1000)
    const s = freshSubject()
    await t.rejects(checkGroups(store, [{ subject: s, windows: [w] }], 1, ''), /tag/)
    await t.rejects(checkGroups(store, [{ subject: s, windows: [w] }, { subject: s, windows: [w] }]), /twice/)
    await t.rejects(checkGroups(store, [{ subject: s, windows: [w] }], 1.5), InvalidLimitRequestError)
    t.same(await checkGroups(store, []), { allowed: true, groups: [] })
  })

  t.test('no windows: allowed, nothing to report', async (t) => {
    const store = at(h.stores(t, 1), 0)
    t.same(await check(store, freshSubject(), []), { allowed: true, windows: [] })
  })
}
