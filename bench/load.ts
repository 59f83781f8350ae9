/**
 * What one load run returns, whichever load generator made it, so the aggregation and the
 * report never know which one ran.
 */

/** The latency percentiles every run reports: enough points for the plot to draw a distribution. */
export const PERCENTILES: readonly number[] = [
  0.1, 0.5, 1, 2, 3, 4, 5, 7.5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 55, 60, 65, 70, 75, 80, 85, 90,
  92.5, 95, 96, 97, 98, 98.5, 99, 99.25, 99.5, 99.75, 99.9, 99.95, 99.99
]

/** Nearest-rank percentile of ascending values; NaN for none. For the loaders that see every sample. */
export function percentileOf (sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(p / 100 * sorted.length) - 1))
  return sorted[rank] ?? NaN
}

export interface LoadRun {
  /** Responses received, any status. */
  responses: number
  /** Wall seconds the run took, as the load generator measured them. */
  seconds: number
  /** Responses per HTTP status. */
  statuses: Map<number, number>
  /** Connect, read, write errors and timeouts: requests that got no response. */
  errors: number
  /** `[percentile, milliseconds]`, one per entry of PERCENTILES. */
  latency: Array<[number, number]>
}

export interface LoadRequest {
  url: string
  /** The `x-api-key` values to rotate over, one per request. */
  keys: readonly string[]
  /** The header the keys are sent in. Default: `x-api-key`. */
  keyHeader?: string
  /** Sent with every request besides the key (the decision rows' X-Original-*). */
  headers?: Readonly<Record<string, string>>
  seconds: number
  connections: number
  threads: number
  /** Requests per second in total; undefined: as fast as the connections go. */
  rate?: number
}

export type Loader = (request: LoadRequest) => Promise<LoadRun>
