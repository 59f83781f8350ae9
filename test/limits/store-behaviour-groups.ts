import type { Test } from 'tap'
import { InvalidLimitRequestError } from '../../src/limits/store-errors'
import { at } from '../helpers/at'
import { check, checkGroups, freshSubject, LONG, win, type Harness } from './store-harness'

// Part of storeBehaviour (store-behaviour.ts): checkGroups, several subjects in one call.

/** Groups spend all at once or not at all; an advisory group never refuses the call. */
export function groupBehaviour (t: Test, h: Harness): void {
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
}

/** Groups under concurrency, their keys apart from check()'s and per tag, and malformed calls. */
export function groupEdgeBehaviour (t: Test, h: Harness): void {
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
}
