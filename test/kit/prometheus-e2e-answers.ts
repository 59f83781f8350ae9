import type { Test } from 'tap'
import type { ApiResponse, Prometheus, QueryData } from '../helpers/prometheus'

// Shared by prometheus-e2e.test.ts: reading Prometheus' answers, and waiting for its
// scrape of tollgate.

export function describe (res: ApiResponse<QueryData>): string {
  return res.status === 'success' ? `${res.data?.resultType ?? '?'} of ${resultLength(res)}` : `${res.errorType ?? ''}: ${res.error ?? ''}`
}

export function resultLength (res: ApiResponse<QueryData>): number {
  const data = res.data
  if (data === undefined) return 0
  if (data.resultType === 'vector' || data.resultType === 'matrix') return data.result.length
  return 1
}

/** The numeric values of every sample of a vector or matrix answer. */
export function values (res: ApiResponse<QueryData>): number[] {
  const data = res.data
  if (data?.resultType === 'vector') return data.result.map((s) => Number(s.value[1]))
  if (data?.resultType === 'matrix') return data.result.flatMap((s) => s.values.map((v) => Number(v[1])))
  return []
}

/** Label sets of a vector or matrix answer. */
export function labelSets (res: ApiResponse<QueryData>): Array<Record<string, string>> {
  const data = res.data
  if (data?.resultType === 'vector' || data?.resultType === 'matrix') return data.result.map((s) => s.metric)
  return []
}

export function parses (t: Test, res: ApiResponse<QueryData>, what: string, expr: string): boolean {
  return t.equal(res.status, 'success', `${what}: Prometheus accepts the query`, {
    expr,
    errorType: res.errorType,
    error: res.error
  })
}

/** Waits for `up{job="tollgate"} == 1`; throws (ending the test) with the scrape targets if it never is. */
export async function waitForUp (t: Test, prometheus: Prometheus, timeoutMs: number, what: string): Promise<void> {
  try {
    const samples = await prometheus.waitForData('up{job="tollgate"} == 1', timeoutMs)
    t.equal(samples.length, 1, `Prometheus scrapes ${what}: up{job="tollgate"} == 1`)
  } catch (err) {
    throw new Error(`Prometheus does not scrape ${what}: ${(err as Error).message}\ntargets: ${JSON.stringify(await targets(prometheus))}`)
  }
}

/** The scrape targets, with their health and last error: what to look at when up is not 1. */
export async function targets (prometheus: Prometheus): Promise<unknown> {
  const res = await prometheus.api<{ activeTargets: Array<Record<string, unknown>> }>('/api/v1/targets')
  return res.data?.activeTargets.map((target) => ({
    job: (target.labels as Record<string, string> | undefined)?.job,
    scrapeUrl: target.scrapeUrl,
    health: target.health,
    lastError: target.lastError
  }))
}
