import { readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import t from 'tap'
import { parse } from 'yaml'
import { at } from '../helpers/at'

// The shipped Grafana dashboard works wherever it is provisioned or imported: no
// import-time inputs, one datasource variable behind every query, a rate window that
// follows the scrape interval, and the instance and client filters on every query.

const REPO_ROOT = resolve(__dirname, '..', '..')
const DATASOURCE = { type: 'prometheus', uid: '${datasource}' }
const read = (path: string): string => readFileSync(join(REPO_ROOT, path), 'utf8')

interface Target { datasource?: unknown, expr?: string, refId?: string }
interface Panel { id?: number, type: string, title?: string, datasource?: unknown, targets?: Target[], panels?: Panel[], gridPos?: unknown }
interface Variable { name: string, type: string, query?: unknown, definition?: string, multi?: boolean, includeAll?: boolean, datasource?: unknown }
interface Annotation { name?: string, datasource?: unknown, expr?: string }
interface Dashboard {
  uid?: string
  title?: string
  schemaVersion?: number
  panels: Panel[]
  templating: { list: Variable[] }
  annotations?: { list?: Annotation[] }
}

const text = read('grafana/dashboards/tollgate.json')
const dashboard = JSON.parse(text) as Dashboard & Record<string, unknown>

function allPanels (panels: Panel[]): Panel[] {
  return panels.flatMap((panel) => [panel, ...allPanels(panel.panels ?? [])])
}
const panels = allPanels(dashboard.panels)
const queryPanels = panels.filter((panel) => panel.type !== 'row')
const queries = [
  ...queryPanels.flatMap((panel) => (panel.targets ?? []).map((target) => ({ where: `panel "${panel.title ?? '?'}" ${target.refId ?? ''}`, expr: target.expr ?? '' }))),
  ...(dashboard.annotations?.list ?? []).filter((a) => a.expr !== undefined).map((a) => ({ where: `annotation "${a.name ?? '?'}"`, expr: a.expr ?? '' }))
]

/** Every `metric{matchers}` selector of a query (tollgate metrics are the only ones used). */
function selectors (expr: string): Array<{ metric: string, matchers: string }> {
  return [...expr.matchAll(/\b(tollgate_[a-z0-9_]+)(\{[^}]*\})?/g)].map((m) => ({ metric: at(m, 1), matchers: m[2] ?? '' }))
}

t.test('a stable uid, a current schema, and nothing to fill in at import', async (t) => {
  t.equal(dashboard.uid, 'tollgate')
  t.equal(dashboard.title, 'tollgate')
  t.ok((dashboard.schemaVersion ?? 0) >= 36, `schemaVersion ${String(dashboard.schemaVersion)} knows datasource variables by uid`)
  t.notOk('__inputs' in dashboard, 'no __inputs')
  t.notOk('__requires' in dashboard, 'no __requires')
  t.notMatch(text, /\$\{DS_/, 'no ${DS_...} import placeholder')
  t.equal(dashboard.id ?? null, null, 'no instance-specific id')
})

t.test('template variables: datasource, instance, client', async (t) => {
  const byName = new Map(dashboard.templating.list.map((v) => [v.name, v]))
  t.same([...byName.keys()], ['datasource', 'instance', 'client'])
  t.match(byName.get('datasource'), { type: 'datasource', query: 'prometheus' })
  t.match(byName.get('instance'), {
    type: 'query',
    datasource: DATASOURCE,
    query: 'label_values(tollgate_build_info, instance)',
    multi: true,
    includeAll: true
  })
  t.match(byName.get('client'), {
    type: 'query',
    datasource: DATASOURCE,
    query: 'label_values(tollgate_ratelimit_decisions_total{instance=~"$instance"}, client)',
    multi: true,
    includeAll: true
  })
})

t.test('every panel and query uses the datasource variable', async (t) => {
  t.ok(queryPanels.length >= 25, `the dashboard has panels (${queryPanels.length})`)
  for (const panel of queryPanels) {
    t.same(panel.datasource, DATASOURCE, `panel "${panel.title ?? '?'}"`)
    t.ok((panel.targets ?? []).length > 0, `panel "${panel.title ?? '?'}" has queries`)
    for (const target of panel.targets ?? []) t.same(target.datasource, DATASOURCE, `panel "${panel.title ?? '?'}" ${target.refId ?? ''}`)
  }
  for (const annotation of dashboard.annotations?.list ?? []) {
    if (annotation.expr !== undefined) t.same(annotation.datasource, DATASOURCE, `annotation "${annotation.name ?? '?'}"`)
  }
})

t.test('panel ids are unique and every panel has a place', async (t) => {
  const ids = panels.map((panel) => panel.id)
  t.equal(new Set(ids).size, ids.length, 'unique ids')
  for (const panel of panels) t.ok(panel.gridPos !== undefined, `panel "${panel.title ?? '?'}" has a gridPos`)
})

// A fixed `[5m]` is wrong for some scrape interval or zoom: too short for a 1m scrape,
// too coarse for a 15m view. $__rate_interval is at least four scrape intervals.
t.test('every range (rate, increase, changes) is $__rate_interval', async (t) => {
  for (const { where, expr } of queries) {
    const ranges = [...expr.matchAll(/\[[^\]]*\]/g)].map((m) => m[0])
    const calls = [...expr.matchAll(/\b(rate|irate|increase|changes)\(/g)].length
    t.ok(calls === 0 || ranges.length >= calls, `${where}: every range function has a range`)
    for (const range of ranges) t.equal(range, '[$__rate_interval]', `${where}: ${range}`)
  }
})

t.test('every query filters on $instance, and decisions on $client', async (t) => {
  for (const { where, expr } of queries) {
    const found = selectors(expr)
    t.ok(found.length > 0, `${where}: selects a tollgate metric`)
    for (const { metric, matchers } of found) {
      t.match(matchers, /instance=~"\$instance"/, `${where}: ${metric} filters on $instance`)
      if (metric === 'tollgate_ratelimit_decisions_total') t.match(matchers, /client=~"\$client"/, `${where}: ${metric} filters on $client`)
    }
  }
})

// The names in src/observe/metrics.ts are the dashboard's interface: a metric that
// no panel shows is one nobody will look at.
t.test('every metric tollgate defines has a panel', async (t) => {
  const defined = [...read('src/observe/metrics.ts').matchAll(/name: '(tollgate_[a-z0-9_]+)'/g)].map((m) => at(m, 1))
  t.ok(defined.length >= 15, `metrics.ts defines metrics (${defined.length})`)
  const shown = new Set(queries.flatMap(({ expr }) => selectors(expr).map(({ metric }) => metric.replace(/_(bucket|sum|count)$/, ''))))
  for (const metric of defined) t.ok(shown.has(metric), `${metric} is on the dashboard`)
})

t.test('provisioning: the Prometheus datasource and the dashboards folder', async (t) => {
  const datasources = parse(read('grafana/provisioning/datasources/prometheus.yml')) as { datasources: unknown[] }
  t.match(datasources.datasources, [{ type: 'prometheus', uid: 'prometheus', url: 'http://prometheus:9090', isDefault: true }])
  const providers = parse(read('grafana/provisioning/dashboards/tollgate.yml')) as { providers: unknown[] }
  t.match(providers.providers, [{ type: 'file', options: { path: '/var/lib/grafana/dashboards' } }])
  const variable = dashboard.templating.list.find((v) => v.name === 'datasource') as Variable & { current?: { value?: string } }
  t.equal(variable.current?.value, 'prometheus', 'the datasource variable defaults to the provisioned uid')
})
