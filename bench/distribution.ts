/**
 * Pools the latency distributions of several rounds. wrk reports percentiles, not the
 * samples, so the pooled distribution is the mixture of the rounds' distributions, each
 * weighted by its responses and read between its percentile points by linear
 * interpolation: exact at one round, close to the pooled samples at several.
 */

export interface Distribution {
  /** How many responses it describes. */
  count: number
  /** `[percentile, ms]`, ascending in both. */
  points: ReadonlyArray<readonly [number, number]>
}

/** The share (0–1) of a round's responses at or below `ms`. */
function cdf (points: Distribution['points'], ms: number): number {
  const first = points[0]
  const last = points[points.length - 1]
  if (first === undefined || last === undefined) return 0
  if (ms < first[1]) return 0
  if (ms >= last[1]) return last[0] / 100
  for (let i = 1; i < points.length; i++) {
    const hi = points[i]
    const lo = points[i - 1]
    if (hi === undefined || lo === undefined || ms >= hi[1]) continue
    const span = hi[1] - lo[1]
    return (lo[0] + (span === 0 ? 0 : (ms - lo[1]) / span) * (hi[0] - lo[0])) / 100
  }
  return last[0] / 100
}

/** The pooled value at each percentile of `percentiles`; NaN when no round has responses. */
export function pooledPercentiles (rounds: readonly Distribution[], percentiles: readonly number[]): Array<[number, number]> {
  const live = rounds.filter((r) => r.count > 0 && r.points.length > 0)
  if (live.length === 1 && live[0] !== undefined) {
    const only = live[0]
    return percentiles.map((p) => [p, only.points.find(([q]) => q === p)?.[1] ?? NaN])
  }
  const total = live.reduce((sum, r) => sum + r.count, 0)
  const values = live.flatMap((r) => r.points.map(([, ms]) => ms)).filter((ms) => ms > 0)
  if (total === 0 || values.length === 0) return percentiles.map((p) => [p, NaN])
  const mixture = (ms: number): number => live.reduce((sum, r) => sum + r.count * cdf(r.points, ms), 0) / total
  const lowest = Math.min(...values)
  const highest = Math.max(...values)
  return percentiles.map((p) => {
    // Bisection on a log scale: latencies span four orders of magnitude.
    let lo = Math.log(lowest)
    let hi = Math.log(highest)
    for (let i = 0; i < 60; i++) {
      const mid = (lo + hi) / 2
      if (mixture(Math.exp(mid)) < p / 100) lo = mid
      else hi = mid
    }
    return [p, Math.exp(hi)]
  })
}

/** The value at percentile `p` of pooled points; NaN when absent. */
export function at (points: ReadonlyArray<readonly [number, number]>, p: number): number {
  return points.find(([q]) => q === p)?.[1] ?? NaN
}
