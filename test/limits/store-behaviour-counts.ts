import type { Test } from 'tap'
import { InvalidLimitRequestError } from '../../src/limits/store-errors'
import { at } from '../helpers/at'
import { ALGORITHMS, check, freshSubject, LONG, near, win, type Harness } from './store-harness'

// Part of storeBehaviour (store-behaviour.ts): counting, per algorithm, and requests
// the store must refuse or has nothing to do for.

/** Each algorithm counts down to max, exactly, under concurrency too, and keeps what was spent when max changes. */
export function countBehaviour (t: Test, h: Harness): void {
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
}

/** Malformed requests are rejected before touching state; no windows is allowed. */
export function requestBehaviour (t: Test, h: Harness): void {
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

  t.test('no windows: allowed, nothing to report', async (t) => {
    const store = at(h.stores(t, 1), 0)
    t.same(await check(store, freshSubject(), []), { allowed: true, windows: [] })
  })
}
