import type { Test } from 'tap'
import { at } from '../helpers/at'
import { check, freshSubject, near, nextWindow, settle, win, type Harness } from './store-harness'

// Part of storeBehaviour (store-behaviour.ts): what each algorithm gives back as time
// passes, on the harness clock.

/** gcra refills smoothly after its burst; fixed resets at a multiple of per. */
export function refillBehaviour (t: Test, h: Harness): void {
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
}
