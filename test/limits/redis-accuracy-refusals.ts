import type { Interval, Span } from './redis-accuracy-count'

/*
 * The other half of "exactly what the algorithm allows": no refusal too early. A 429 is
 * explained when the admissions that may have run before it, in the most generous
 * reading of every interval, could have filled what the algorithm counts. A refusal
 * that even that reading cannot explain is a request the algorithm should have admitted.
 * Holds under any load: it needs no saturation, so 100 keys are checked as 1 is.
 */

/** Generous to the store: a fraction of a micro-unit of rounding in the script. */
const EPSILON = 1e-6

/** Admissions that may have run in [from, until) and before the refusal `r`. */
function mayPrecede (admissions: readonly Interval[], r: Interval, from: number, until: number): number {
  let n = 0
  for (const a of admissions) if (a.from <= r.to && a.to >= from && a.from < until) n++
  return n
}

/** fixed: `max` already spent in the refusal's calendar window. */
function fixedExplains (span: Span, admissions: readonly Interval[], r: Interval): boolean {
  for (let w = Math.floor(r.from / span.perMs); w <= Math.floor(r.to / span.perMs); w++) {
    if (mayPrecede(admissions, r, w * span.perMs, (w + 1) * span.perMs) >= span.max) return true
  }
  return false
}

/** sliding: count + prev × (time left / per) > max − 1, with the most time left the interval allows. */
function slidingExplains (span: Span, admissions: readonly Interval[], r: Interval): boolean {
  const per = span.perMs
  for (let w = Math.floor(r.from / per); w <= Math.floor(r.to / per); w++) {
    const count = mayPrecede(admissions, r, w * per, (w + 1) * per)
    const prev = mayPrecede(admissions, r, (w - 1) * per, w * per)
    const left = ((w + 1) * per - Math.max(r.from, w * per)) / per
    if (count + prev * left > span.max - 1 - EPSILON) return true
  }
  return false
}

/**
 * gcra: the bucket at the refusal holds the most, over every s before it, of what was
 * admitted since s less what drained since (the leaky bucket's Lindley form). That is
 * largest at an admission's latest time, or at the refusal itself; the shortest drain
 * runs to the refusal's earliest time.
 */
function gcraExplains (span: Span, admissions: readonly Interval[], r: Interval): boolean {
  const candidates = [r.from, ...admissions.filter((a) => a.to <= r.to).map((a) => a.to)]
  return candidates.some((s) => {
    const admitted = mayPrecede(admissions, r, s, Infinity)
    return admitted - span.max * Math.max(0, r.from - s) / span.perMs > span.max - 1 - EPSILON
  })
}

/** How many of `refusals` no reading of `admissions` explains: 0 when the store is right. */
export function unexplained (span: Span, admissions: readonly Interval[], refusals: readonly Interval[]): number {
  const explains = span.algorithm === 'gcra' ? gcraExplains : span.algorithm === 'fixed' ? fixedExplains : slidingExplains
  return refusals.filter((r) => !explains(span, admissions, r)).length
}
