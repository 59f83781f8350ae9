import t from 'tap'
import type { Algorithm } from '../../src/limits/types'
import { figures, type Interval, type Span } from './redis-accuracy-count'
import { unexplained } from './redis-accuracy-refusals'

// The accuracy matrix's judges on answers made up here, so that each can be seen to
// fail: a store that admits one too many, or refuses one too early, is caught.

const span = (algorithm: Algorithm): Span => ({ max: 3, perMs: 1000, algorithm, start: 0, end: 3000 })
/** An answer whose script ran between `at` and `at + 5` ms. */
const at = (ms: number): Interval => ({ from: ms, to: ms + 5 })

t.test('fixed: 3 per window is right, a fourth is over, a refusal with room left is early', async (t) => {
  const right = [at(10), at(20), at(30), at(1010), at(1020), at(1030), at(2010), at(2020), at(2030)]
  const f = figures(span('fixed'), right)
  t.equal(f.bound, 12, 'the 4 windows the run touched (3000 ms is the first of the fourth) × 3')
  t.equal(f.admitted, 9)
  t.strictSame(f.windows, { mostCertain: 3, fewestPossible: 3, whole: 3 })
  t.equal(unexplained(span('fixed'), right, [at(40), at(1040)]), 0, 'refused once 3 were spent')
  t.equal(figures(span('fixed'), [...right, at(1500)]).windows.mostCertain, 4, 'a fourth in one window is seen')
  t.equal(unexplained(span('fixed'), right.slice(1), [at(40)]), 1, 'refused with 2 of 3 spent: early')
  t.equal(unexplained(span('fixed'), right, [{ from: 990, to: 1015 }]), 0, 'an interval across a boundary is read generously')
})

t.test('gcra: burst plus refill is the bound, and the bucket explains a refusal', async (t) => {
  // 3 at once, then one each time a unit has drained (every 333 ms).
  const right = [at(0), at(1), at(2), at(340), at(675), at(1010)]
  const f = figures(span('gcra'), right)
  t.equal(f.bound, 3 + Math.floor(3 * 1015 / 1000), 'max + max × span / per')
  t.ok(f.admitted <= f.bound)
  t.ok(figures(span('gcra'), [...right, at(1011), at(1012)]).admitted > f.bound, 'two more at once go over')
  t.equal(unexplained(span('gcra'), right, [at(100), at(500)]), 0, 'a full bucket refuses')
  t.equal(unexplained(span('gcra'), right.slice(0, 3), [at(400)]), 1, 'refused 400 ms after a burst of 3: a unit had drained')
})

t.test('sliding: the previous window weighs in, and nothing else explains a refusal', async (t) => {
  const full = [at(100), at(200), at(300)]
  t.equal(unexplained(span('sliding'), full, [at(1100)]), 0, 'early in the next window the last one still counts nearly whole')
  t.equal(unexplained(span('sliding'), full, [at(1900)]), 1, 'at 90 % of it, 3 × 0.1 leaves room: early')
  t.equal(figures(span('sliding'), [...full, at(400)]).windows.mostCertain, 4, 'over max in one window is seen')
})
