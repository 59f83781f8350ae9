import { at } from './at'
import type { Tollgate } from './child'
import { get, type TextResponse } from './http'
import { LISTEN } from './stack'

// Shared by the /metrics and /health tests of test/observe: reading the Prometheus text
// format, scraping a running sidecar, polling until a condition holds.

/**
 * A child transpiles the sources it has not seen yet as it starts: on a loaded machine that
 * alone can pass the helper's 15 s default, and start-up time is not what these files test.
 */
export const READY_TIMEOUT_MS = 60_000

/** One sample line of the Prometheus text format. */
export interface Sample { readonly name: string, readonly labels: Readonly<Record<string, string>>, readonly value: number }
/** Labels to match; numbers are compared as their string form. */
export type Labels = Readonly<Record<string, string | number>>

/** The samples of a Prometheus text body (comments and blank lines skipped); throws on a line that is not one. */
export function parseSamples (body: string): Sample[] {
  const samples: Sample[] = []
  for (const line of body.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (match === null) throw new Error(`not a sample line: ${line}`)
    const labels: Record<string, string> = {}
    for (const label of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[at(label, 1)] = at(label, 2)
    samples.push({ name: at(match, 1), labels, value: Number(at(match, 3)) })
  }
  return samples
}

/** The series with exactly these labels, or undefined when it does not exist. */
export function valueOf (samples: readonly Sample[], name: string, labels: Labels = {}): number | undefined {
  const keys = Object.keys(labels)
  return samples.find((s) => s.name === name && Object.keys(s.labels).length === keys.length &&
    keys.every((k) => s.labels[k] === String(labels[k])))?.value
}

/** As valueOf, but NaN when the series does not exist. */
export function valueOrNaN (samples: readonly Sample[], name: string, labels: Labels = {}): number {
  return valueOf(samples, name, labels) ?? Number.NaN
}

/** The body of the sidecar's admin /metrics; throws unless it answers 200. */
export async function scrapeText (tollgate: Tollgate): Promise<string> {
  const res = await get(`${tollgate.adminUrl}/metrics`)
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}: ${res.body}`)
  return res.body
}

/** The parsed samples of the sidecar's admin /metrics. */
export async function scrape (tollgate: Tollgate): Promise<Sample[]> {
  return parseSamples(await scrapeText(tollgate))
}

export const sleep = async (ms: number): Promise<void> => await new Promise((resolve) => setTimeout(resolve, ms))

/**
 * Scrapes until `done` holds, running `between` (e.g. a request) before each try;
 * rejects after `timeoutMs` with the last values of `show`.
 */
export async function scrapeUntil (tollgate: Tollgate, done: (s: Sample[]) => boolean, timeoutMs: number, show: string[], between?: () => Promise<unknown>): Promise<Sample[]> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    await between?.()
    const samples = await scrape(tollgate)
    if (done(samples)) return samples
    if (Date.now() > deadline) {
      const seen = samples.filter((s) => show.includes(s.name)).map((s) => `${s.name}${JSON.stringify(s.labels)} ${s.value}`)
      throw new Error(`not reached within ${timeoutMs} ms; last seen:\n${seen.join('\n')}`)
    }
    await sleep(50)
  }
}

/** Polls `url` until `done` holds; resolves with the last response and how long it took. */
export async function pollUntil (url: string, done: (res: TextResponse) => boolean, timeoutMs: number): Promise<{ res: TextResponse, ms: number }> {
  const started = Date.now()
  for (;;) {
    const res = await get(url)
    if (done(res) || Date.now() - started > timeoutMs) return { res, ms: Date.now() - started }
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

/** GET the sidecar's /health/ready. */
export const ready = async (tg: Tollgate): Promise<TextResponse> => await get(`${tg.adminUrl}/health/ready`)

/** The one observation of `checks[key]` of a /health/full body; throws unless there is exactly one. */
export function check<C> (full: { checks: Record<string, C[]> }, key: string): C {
  const entries = full.checks[key]
  if (entries?.length !== 1) throw new Error(`checks["${key}"] is not an array of one: ${JSON.stringify(full.checks)}`)
  return at(entries, 0)
}

/** A config with an upstream health check on /status/200 (1 s interval), Redis and `on_redis_error: mode`. */
export function fullHealthConfig (upstream: string, redis: string, mode: 'allow' | 'deny'): string {
  return `${LISTEN}
upstream: ${upstream}
upstream_health: { path: /status/200, interval: 1s, timeout: 500ms }
redis: ${redis}
on_redis_error: ${mode}
plans: { free: [ { max: 1000, per: 1s } ] }`
}
