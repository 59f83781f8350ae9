import type { Algorithm } from '../../src/limits/types'

/*
 * What the clients of an accuracy run saw, turned into what each algorithm must have
 * done. A client cannot see when the script ran, only that it ran between the moment
 * the request left and the moment its answer came back; every figure here is derived
 * from that interval, moved onto Redis' clock, so a bound held is held for any moment
 * the script may have run at, and a floor met is met for any of them too.
 */

/** One answered request: the earliest and latest Redis time (ms) its script can have run at. */
export interface Interval { readonly from: number, readonly to: number }

export interface KeyFigures {
  readonly admitted: number
  /** The most the algorithm can have allowed this key, whenever the scripts ran. */
  readonly bound: number
  /** The least saturating traffic must have got (see `floorOf`). */
  readonly floor: number
  /**
   * Per calendar window: the most admissions certainly in one window (any window), and
   * the fewest that may be in one of the run's whole windows (`whole` of them).
   */
  readonly windows: { readonly mostCertain: number, readonly fewestPossible: number, readonly whole: number }
  /** Admissions certainly inside one `per`-long stretch, the busiest such stretch. */
  readonly rolling: number
}

export interface Span { readonly max: number, readonly perMs: number, readonly algorithm: Algorithm, readonly start: number, readonly end: number }

/**
 * gcra: a bucket of `max` draining at max/per; n admissions from t1 to tn leave
 * n − max·(tn − t1)/per in it, which must stay ≤ max. fixed and sliding: at most `max`
 * in each calendar window (sliding's estimate is count + a share of the previous
 * window, so count alone stays ≤ max), over every window the run touched.
 */
function boundOf (span: Span, admissions: readonly Interval[]): number {
  if (span.algorithm === 'gcra') {
    if (admissions.length === 0) return 0
    const first = admissions.reduce((earliest, a) => Math.min(earliest, a.from), Infinity)
    const last = admissions.reduce((latest, a) => Math.max(latest, a.to), -Infinity)
    return span.max + Math.floor(span.max * (last - first) / span.perMs)
  }
  return span.max * (Math.floor(span.end / span.perMs) - Math.floor(span.start / span.perMs) + 1)
}

/**
 * Under saturating traffic (a request always waiting): gcra admits again as soon as the
 * bucket has drained one unit, so n ≥ max + max·(tn − t1)/per − 1 with the shortest
 * possible tn − t1; fixed fills every whole window (checked per window, below); sliding
 * weighs the previous window in as time passes, so only `max` per whole `per` elapsed.
 */
function floorOf (span: Span, admissions: readonly Interval[]): number {
  if (admissions.length === 0) return span.max
  if (span.algorithm === 'gcra') {
    const first = admissions.reduce((earliest, a) => Math.min(earliest, a.to), Infinity)
    const last = admissions.reduce((latest, a) => Math.max(latest, a.from), -Infinity)
    return span.max + Math.floor(span.max * Math.max(0, last - first) / span.perMs) - 1
  }
  const whole = Math.floor(span.end / span.perMs) - Math.ceil(span.start / span.perMs)
  return span.max * Math.max(0, span.algorithm === 'sliding' ? Math.floor((span.end - span.start) / span.perMs) : whole)
}

/**
 * Per calendar window: admissions whose whole interval lies in it (certain), and those
 * whose interval only touches it (possible). Whole windows are those the run covered
 * from start to end.
 */
function windowsOf (span: Span, admissions: readonly Interval[]): KeyFigures['windows'] {
  const certain = new Map<number, number>()
  const possible = new Map<number, number>()
  const add = (m: Map<number, number>, w: number): void => { m.set(w, (m.get(w) ?? 0) + 1) }
  for (const a of admissions) {
    const lo = Math.floor(a.from / span.perMs)
    const hi = Math.floor(a.to / span.perMs)
    for (let w = lo; w <= hi; w++) add(possible, w)
    if (lo === hi) add(certain, lo)
  }
  const firstWhole = Math.ceil(span.start / span.perMs)
  const lastWhole = Math.floor(span.end / span.perMs) - 1
  let fewestPossible = Infinity
  for (let w = firstWhole; w <= lastWhole; w++) fewestPossible = Math.min(fewestPossible, possible.get(w) ?? 0)
  const whole = Math.max(0, lastWhole - firstWhole + 1)
  return { mostCertain: Math.max(0, ...certain.values()), fewestPossible: whole === 0 ? 0 : fewestPossible, whole }
}

/** The busiest `per`-long stretch, counting only admissions certainly inside it. */
function rollingOf (perMs: number, admissions: readonly Interval[]): number {
  const sorted = [...admissions].sort((a, b) => a.from - b.from)
  let busiest = 0
  for (const [i, start] of sorted.entries()) {
    let n = 0
    for (let j = i; j < sorted.length && (sorted[j]?.from ?? Infinity) < start.from + perMs; j++) {
      if ((sorted[j]?.to ?? Infinity) < start.from + perMs) n++
    }
    busiest = Math.max(busiest, n)
  }
  return busiest
}

export function figures (span: Span, admissions: readonly Interval[]): KeyFigures {
  const inOrder = [...admissions].sort((a, b) => a.from - b.from)
  return {
    admitted: admissions.length,
    bound: boundOf(span, inOrder),
    floor: floorOf(span, inOrder),
    windows: windowsOf(span, inOrder),
    rolling: rollingOf(span.perMs, inOrder)
  }
}
