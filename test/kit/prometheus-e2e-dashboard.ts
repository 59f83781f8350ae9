import { at } from '../helpers/at'

// Shared by prometheus-e2e.test.ts: the shipped Grafana dashboard's queries, and how
// Grafana fills in their variables before it sends them to Prometheus.

/** Prometheus' scrape and evaluation interval here (15s in the shipped file). */
export const SCRAPE_SECONDS = 1
/** Query resolution: the `step` of range queries, Grafana's `$__interval` for panels. */
export const STEP_SECONDS = 1

interface Target { expr?: string, refId?: string, instant?: boolean, range?: boolean, interval?: string }
interface Panel { type: string, title?: string, interval?: string, targets?: Target[], panels?: Panel[] }
interface Annotation { name?: string, expr?: string, step?: string }
interface Variable { name: string, type: string, query?: unknown }
export interface Dashboard { panels: Panel[], annotations?: { list?: Annotation[] }, templating?: { list?: Variable[] } }

export interface DashboardQuery {
  /** `panel "Title" A` or `annotation "Name"`: how failures name the query. */
  where: string
  expr: string
  /** Grafana runs instant targets as /api/v1/query, the others (and annotations) as ranges. */
  instant: boolean
  /** The query's "Min step" in seconds, if it sets one. */
  minStepSeconds?: number
}

function seconds (duration: string): number {
  const m = /^(\d+)(ms|s|m|h|d)$/.exec(duration)
  if (m === null) throw new Error(`not a Grafana duration: ${duration}`)
  return Number(m[1]) * { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400 }[m[2] as 'ms' | 's' | 'm' | 'h' | 'd']
}

export function dashboardQueries (dashboard: Dashboard): DashboardQuery[] {
  const found: DashboardQuery[] = []
  const visit = (panels: Panel[]): void => {
    for (const panel of panels) {
      for (const target of panel.targets ?? []) {
        if (target.expr === undefined) continue
        const minStep = target.interval ?? panel.interval
        found.push({
          where: `panel "${panel.title ?? '?'}" ${target.refId ?? ''}`.trim(),
          expr: target.expr,
          instant: target.instant === true && target.range !== true,
          minStepSeconds: minStep === undefined || minStep === '' ? undefined : seconds(minStep)
        })
      }
      visit(panel.panels ?? [])
    }
  }
  visit(dashboard.panels)
  for (const annotation of dashboard.annotations?.list ?? []) {
    if (annotation.expr === undefined) continue
    found.push({
      where: `annotation "${annotation.name ?? '?'}"`,
      expr: annotation.expr,
      instant: false,
      minStepSeconds: annotation.step === undefined ? undefined : seconds(annotation.step)
    })
  }
  return found
}

/**
 * Grafana's `$__rate_interval`: max($__interval + scrape interval, 4 × scrape interval),
 * where the scrape interval is the query's Min step when it sets one, else the
 * datasource's "Scrape interval" (a user scraping every second sets 1s there), and
 * $__interval is at least the Min step. Panels here: max(1 + 1, 4) = 4s. Annotations
 * with `step: 30s`: max(30 + 30, 120) = 120s.
 */
export function rateInterval (query: DashboardQuery): string {
  const scrape = query.minStepSeconds ?? SCRAPE_SECONDS
  const interval = Math.max(STEP_SECONDS, query.minStepSeconds ?? 0)
  return `${Math.max(interval + scrape, 4 * scrape)}s`
}

/** The values the dashboard's variables take: "All", or picked from their drop-downs. */
export interface Selection { name: string, instance: string, client: string }

/**
 * How Grafana's Prometheus datasource writes a multi-value variable into a query: "All"
 * is the variable's allValue (`.*`); picked values are regex-escaped (`.` → `\\.`,
 * which is `\.` once PromQL has read the string) and, when there are several,
 * joined as `(a|b)`.
 */
export function multiValue (values: string[]): string {
  const escaped = values.map((v) => v.replace(/\\/g, '\\\\\\\\').replace(/[$^*{}[\]'+?.()|]/g, '\\\\$&'))
  return escaped.length === 1 ? at(escaped, 0) : `(${escaped.join('|')})`
}

export function substitute (expr: string, rate: string, selection: Selection): string {
  return expr
    .replaceAll('$__rate_interval', rate)
    .replaceAll('${__rate_interval}', rate)
    .replaceAll('${instance}', selection.instance)
    .replaceAll('$instance', selection.instance)
    .replaceAll('${client}', selection.client)
    .replaceAll('$client', selection.client)
}

// Queries that legitimately return nothing in this scenario. Each is still sent and
// must parse; keep this list short, and drive traffic that fills a panel rather than
// adding it here.
export const MAY_BE_EMPTY = new Map<string, string>([
  // An HTTP/1.1 exchange through a proxy cannot end in a 1xx final status (tollgate
  // proxies no protocol upgrades), so no request series with a 1xx status_code exists
  // and sum() of nothing is nothing. Grafana draws no 1xx line, which is right.
  ['panel "Requests by status class" F', 'no 1xx responses can be produced'],
  // increase(tollgate_config_reloads_total) > 0 needs a reload, and tollgate has no
  // reload yet (no /-/reload, SIGHUP or file watch). Once it has one, reload during the
  // traffic below and drop this entry.
  ['annotation "Config reloads"', 'no config reload in this scenario']
])
