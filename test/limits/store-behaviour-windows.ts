import type { Test } from 'tap'
import { at } from '../helpers/at'
import { check, freshSubject, LONG, near, win, type Harness } from './store-harness'

// Part of storeBehaviour (store-behaviour.ts): several windows in one check, the cost
// spent in each, and when each window resets.

/** Every window must allow, each spends the cost, and resetMs is per algorithm. */
export function windowBehaviour (t: Test, h: Harness): void {
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
}
