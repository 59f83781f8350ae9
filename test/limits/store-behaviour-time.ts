import type { Test } from 'tap'
import { at } from '../helpers/at'
import { check, freshSubject, near, nextWindow, settle, win, type Harness } from './store-harness'

// Part of storeBehaviour (store-behaviour.ts): what each algorithm gives back as time
// passes, on the harness clock. Each expectation is counted from the clock read just
// before the call it checks, not from where an earlier wait meant to land: on a busy
// machine the steps between run late, and slackMs is only one call's latency.

/** gcra refills smoothly after its burst; fixed resets at a multiple of per. */
export function refillBehaviour (t: Test, h: Harness): void {
  t.test('gcra: a burst of max, then a smooth refill', async (t) => {
    const store = at(h.stores(t, 1), 0)
    const s = freshSubject()
    const w = win('gcra', 4, 1000)
    const burstAt = h.now()
    for (let i = 0; i < 4; i++) t.equal((await check(store, s, [w])).allowed, true, `burst ${i + 1}`)
    const refusedAt = h.now()
    const refused = await check(store, s, [w])
    t.match(refused, { allowed: false, windows: [{ remaining: 0 }] })
    // The burst filled the bucket to 1 s past burstAt; one unit has drained 250 ms after it.
    near(t, at(refused.windows, 0).resetMs, burstAt + 250 - refusedAt, h.slackMs, 'one unit drains in 250 ms')
    await h.sleep(at(refused.windows, 0).resetMs + h.slackMs)
    const oneAt = h.now()
    const one = await check(store, s, [w])
    t.match(one, { allowed: true, windows: [{ remaining: 0 }] })
    // Full again until 1 s past the drained unit: 1250 ms past burstAt.
    near(t, at(one.windows, 0).resetMs, burstAt + 1250 - oneAt, 2 * h.slackMs, 'full after 1 s')
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
    const refusedAt = h.now()
    const refused = await check(store, s, [w])
    t.match(refused, { allowed: false, windows: [{ remaining: 0 }] })
    near(t, at(refused.windows, 0).resetMs, 1000 - (refusedAt % 1000), h.slackMs, 'until the window ends')
    const end = h.now() + at(refused.windows, 0).resetMs
    near(t, ((end + 500) % 1000) - 500, 0, h.slackMs, 'ends at a multiple of 1 s')
    await h.sleep(at(refused.windows, 0).resetMs + h.slackMs)
    t.match(await check(store, s, [w]), { allowed: true, windows: [{ remaining: 1 }] })
  })
}

/** sliding counts the previous window by the share of it still in view. */
export function slidingBehaviour (t: Test, h: Harness): void {
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
    const refusedAt = h.now()
    const refused = await check(store, s, [w])
    t.equal(refused.allowed, false)
    // fits once 10 * share + 2 + 1 <= 10: at 30% of the window (600 ms), 200 ms on when on time
    near(t, at(refused.windows, 0).resetMs, 0.3 * per - (refusedAt % per), h.slackMs, 'until prev decays enough')
    await h.sleep(at(refused.windows, 0).resetMs + h.slackMs)
    const afterAt = h.now()
    const after = await check(store, s, [w])
    t.equal(after.allowed, true)
    near(t, at(after.windows, 0).resetMs, per - (afterAt % per), 2 * h.slackMs, 'allowed: until the window ends')
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
}
