import t from 'tap'
import type { Test } from 'tap'
import { MemoryLimitStore, type MemoryStoreOptions } from '../../src/limits/store-memory'
import { storeBehaviour } from './store-behaviour'
import { freshSubject, win, type Harness } from './store-harness'

/** A clock that only moves when told, starting mid-window at a known instant. */
function fakeClock (start = Date.UTC(2024, 4, 1, 12, 0, 0, 123)) {
  let now = start
  return {
    now: () => now,
    advance: (ms: number) => {
      now += ms
    },
  }
}

function storeWith (t: Test, options: MemoryStoreOptions): MemoryLimitStore {
  const store = new MemoryLimitStore(options)
  t.teardown(() => store.close())
  return store
}

t.test('behaviour', async (t) => {
  const clock = fakeClock()
  // One store per test: the shared instance is what "sharing one state" means here.
  const harness: Harness = {
    stores (t, n) {
      const store = storeWith(t, { now: clock.now })
      return Array.from({ length: n }, () => store)
    },
    now: clock.now,
    async sleep (ms) {
      clock.advance(ms)
    },
    slackMs: 0,
  }
  storeBehaviour(t, harness)
})

t.test('1d fixed window resets at 00:00 UTC', async (t) => {
  const clock = fakeClock(Date.UTC(2024, 0, 1, 23, 59, 0))
  const store = storeWith(t, { now: clock.now })
  const s = freshSubject()
  const w = win('fixed', 1, 86_400_000)
  t.equal((await store.check({ subject: s, windows: [w], cost: 1 })).allowed, true)
  const refused = await store.check({ subject: s, windows: [w], cost: 1 })
  t.match(refused, { allowed: false, windows: [{ resetMs: 60_000 }] })
  clock.advance(59_999)
  t.equal((await store.check({ subject: s, windows: [w], cost: 1 })).allowed, false, '23:59:59.999')
  clock.advance(1)
  t.equal((await store.check({ subject: s, windows: [w], cost: 1 })).allowed, true, '00:00:00.000')
})

t.test('sliding forgets a window more than one period old', async (t) => {
  const clock = fakeClock(Date.UTC(2024, 0, 1))
  const store = storeWith(t, { now: clock.now })
  const s = freshSubject()
  const w = win('sliding', 10, 1000)
  await store.check({ subject: s, windows: [w], cost: 10 })
  clock.advance(1500)
  t.match(await store.check({ subject: s, windows: [w], cost: 1 }), { windows: [{ remaining: 4 }] }, '10 * 50% + 1')
  clock.advance(1000)
  // the 10 are two windows back; only the 1 spent at 1.5 s counts, at 50%
  t.match(await store.check({ subject: s, windows: [w], cost: 1 }), { windows: [{ remaining: 8 }] })
  clock.advance(2000)
  t.match(await store.check({ subject: s, windows: [w], cost: 1 }), { windows: [{ remaining: 9 }] })
})

t.test('entries expire: in the sweep and lazily on access', async (t) => {
  // half way through a 1 s window
  const clock = fakeClock(Date.UTC(2024, 0, 1, 0, 0, 0, 500))
  const store = storeWith(t, { now: clock.now })
  const w = (algorithm: 'gcra' | 'fixed' | 'sliding') => [win(algorithm, 4, 1000)]
  await store.check({ subject: freshSubject(), windows: w('gcra'), cost: 4 })
  await store.check({ subject: freshSubject(), windows: w('fixed'), cost: 1 })
  await store.check({ subject: freshSubject(), windows: w('sliding'), cost: 1 })
  t.equal(store.size, 3)
  clock.advance(499)
  store.sweep()
  t.equal(store.size, 3)
  clock.advance(1)
  store.sweep()
  t.equal(store.size, 2, 'the fixed window ended')
  clock.advance(500)
  store.sweep()
  t.equal(store.size, 1, 'gcra drained; sliding still counts as the previous window')
  clock.advance(500)
  store.sweep()
  t.equal(store.size, 0)

  const a = freshSubject()
  await store.check({ subject: a, windows: w('gcra'), cost: 1 })
  clock.advance(250)
  t.match(await store.check({ subject: a, windows: w('gcra'), cost: 0 }), { windows: [{ remaining: 4 }] })
  t.equal(store.size, 0, 'read after expiry drops it; cost 0 writes nothing')
})

t.test('bounded: the entry written longest ago is evicted first', async (t) => {
  const clock = fakeClock()
  const store = storeWith(t, { now: clock.now, maxEntries: 2 })
  const w = win('fixed', 5, 60_000)
  const [a, b, c] = [freshSubject(), freshSubject(), freshSubject()]
  await store.check({ subject: a, windows: [w], cost: 1 })
  await store.check({ subject: b, windows: [w], cost: 1 })
  await store.check({ subject: a, windows: [w], cost: 1 })
  await store.check({ subject: c, windows: [w], cost: 1 })
  t.equal(store.size, 2)
  t.match(await store.check({ subject: a, windows: [w], cost: 1 }), { windows: [{ remaining: 2 }] }, 'a kept')
  t.match(await store.check({ subject: b, windows: [w], cost: 1 }), { windows: [{ remaining: 4 }] }, 'b evicted')
})

t.test('options are checked', async (t) => {
  t.throws(() => new MemoryLimitStore({ maxEntries: 0 }), /maxEntries/)
})

t.test('subjects and scopes cannot spell each other', async (t) => {
  const store = storeWith(t, { now: fakeClock().now })
  await store.check({ subject: 'a:b', windows: [win('fixed', 1, 60_000, 'c')], cost: 1 })
  t.equal((await store.check({ subject: 'a', windows: [win('fixed', 1, 60_000, 'b:c')], cost: 1 })).allowed, true)
})

t.test('the sweep timer does not keep the process alive and close stops it', async (t) => {
  const store = new MemoryLimitStore({ sweepIntervalMs: 5 })
  let swept = 0
  const sweep = store.sweep.bind(store)
  store.sweep = () => {
    swept += 1
    sweep()
  }
  await new Promise((resolve) => setTimeout(resolve, 30))
  t.ok(swept > 0, 'sweeps periodically')
  await store.close()
  const after = swept
  await new Promise((resolve) => setTimeout(resolve, 30))
  t.equal(swept, after, 'no sweep after close')
})
