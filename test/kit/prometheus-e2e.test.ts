import t from 'tap'
import type { Test } from 'tap'
import { at } from '../helpers/at'
import { get } from '../helpers/http'
import type { ApiResponse, Prometheus, QueryData, RuleState } from '../helpers/prometheus'
import { describe, labelSets, parses, resultLength, targets, values } from './prometheus-e2e-answers'
import { alerts, EXPECT_ACTIVE, EXPECT_QUIET, read, rules } from './prometheus-e2e-config'
import { dashboardQueries, MAY_BE_EMPTY, multiValue, rateInterval, STEP_SECONDS, substitute, type Dashboard, type DashboardQuery, type Selection } from './prometheus-e2e-dashboard'
import { startScenario, type Scenario } from './prometheus-e2e-scenario'
import { EXPECTED_STATUSES } from './prometheus-e2e-traffic'

// End to end: a real Prometheus, configured from the shipped prometheus/prometheus.yml,
// scrapes a running tollgate (the real CLI, with Redis and an upstream) and evaluates
// the shipped alerts.yml while traffic flows, 429s included. Then every query of the
// shipped Grafana dashboard, with its variables filled in as Grafana would, and every
// alert expression are sent to Prometheus' HTTP API: each must parse, and each panel
// must show data. promtool (promtool.test.ts) only proves the queries parse; this
// proves they select series tollgate really exports, with the labels they filter on.

t.test('a real Prometheus scrapes tollgate: every dashboard query and alert expression works', async (t) => {
  const dashboard = JSON.parse(read('grafana/dashboards/tollgate.json')) as Dashboard
  const queries = dashboardQueries(dashboard)
  t.ok(queries.length > 20, `the dashboard has queries (${queries.length})`)
  t.ok(alerts.length > 0, `alerts.yml has alerts (${alerts.length})`)
  for (const where of MAY_BE_EMPTY.keys()) {
    t.ok(queries.some((q) => q.where === where), `the exemption ${where} names a query of the dashboard`)
  }

  const s = await startScenario(t)

  await t.test('the traffic produced every status the panels show', async (t) => { await checkStatuses(t, s) })
  await t.test('up{job="tollgate"} is 1 and the scrape is healthy', async (t) => { await checkUp(t, s) })
  await t.test('the dashboard variables offer the instance and the clients', async (t) => { await checkVariables(t, s, dashboard) })

  const selections: Selection[] = [
    { name: 'All', instance: '.*', client: '.*' },
    { name: 'picked', instance: multiValue([s.instance]), client: multiValue(['alpha', 'beta']) }
  ]
  // Answers of the "All" pass, for the checks on values below.
  const answers = new Map<string, ApiResponse<QueryData>>()
  for (const selection of selections) {
    await t.test(`every dashboard query parses and shows data (variables: ${selection.name})`, async (t) => {
      await checkQueries(t, s, queries, selection, answers)
    })
  }

  await t.test('the panels show the traffic that was sent', async (t) => { checkPanels(t, answers) })
  await t.test('every alert expression parses, and the ones this scenario decides hold or not', async (t) => { await checkAlerts(t, s.prometheus) })
  await t.test('Prometheus loaded alerts.yml and evaluates every rule without error', async (t) => { await checkRules(t, s.prometheus) })

  await s.stopTraffic()
})

async function checkStatuses (t: Test, { traffic, tollgate }: Scenario): Promise<void> {
  const statuses = Object.fromEntries(traffic.statuses)
  t.comment(`responses so far by status: ${JSON.stringify(statuses)}`)
  t.equal(traffic.error(), undefined, 'every request got an answer')
  // What tollgate itself counted, to tell a limiter that failed open from a traffic bug.
  const counted = (await get(`${tollgate.adminUrl}/metrics`)).body.split('\n')
    .filter((line) => /^tollgate_(ratelimit_decisions|redis_errors)_total\{/.test(line) && !line.endsWith(' 0'))
  for (const status of EXPECTED_STATUSES) {
    t.ok((traffic.statuses.get(status) ?? 0) > 0, `${status} responses`, { statuses, counted })
  }
}

async function checkUp (t: Test, { prometheus, instance }: Scenario): Promise<void> {
  const res = await prometheus.query('up{job="tollgate"} == 1')
  parses(t, res, 'up', 'up{job="tollgate"} == 1')
  t.same(labelSets(res).map((m) => m.instance), [instance], 'one tollgate target, up, under its admin host:port', { targets: await targets(prometheus) })
}

async function checkVariables (t: Test, { prometheus, instance, started }: Scenario, dashboard: Dashboard): Promise<void> {
  // What Grafana asks for `label_values(SELECTOR, LABEL)`, with the variables the
  // selector uses at "All".
  const expected: Record<string, string[]> = { instance: [instance], client: ['alpha', 'beta', 'gamma', 'unknown'] }
  const variables = (dashboard.templating?.list ?? []).filter((v) => v.type === 'query')
  t.same(variables.map((v) => v.name).sort(), Object.keys(expected).sort(), 'the query variables this test knows')
  for (const variable of variables) {
    const definition = typeof variable.query === 'string' ? variable.query : JSON.stringify(variable.query)
    const m = /^label_values\((.+),\s*(\w+)\)$/.exec(definition)
    if (!t.ok(m, `$${variable.name}: a label_values(selector, label) query`, { definition }) || m === null) continue
    const selector = substitute(at(m, 1), '', { name: 'All', instance: '.*', client: '.*' })
    const res = await prometheus.api<string[]>(`/api/v1/label/${m[2]}/values`, [
      ['match[]', selector], ['start', String(started)], ['end', String(Date.now() / 1000)]
    ])
    t.equal(res.status, 'success', `$${variable.name}: Prometheus accepts ${definition}`, { selector, error: res.error })
    t.same([...(res.data ?? [])].sort(), expected[variable.name], `$${variable.name} offers what tollgate exports`, { selector })
  }
}

async function checkQueries (t: Test, { prometheus, trafficStart }: Scenario, queries: DashboardQuery[], selection: Selection, answers: Map<string, ApiResponse<QueryData>>): Promise<void> {
  const end = Date.now() / 1000
  for (const query of queries) {
    const expr = substitute(query.expr, rateInterval(query), selection)
    if (!t.notMatch(expr, /\$/, `${query.where}: no variable left after substitution`, { expr })) continue
    const res = query.instant
      ? await prometheus.query(expr, end)
      : await prometheus.queryRange(expr, trafficStart, end, STEP_SECONDS)
    if (selection.name === 'All') answers.set(query.where, res)
    if (!parses(t, res, query.where, expr)) continue
    const exempt = MAY_BE_EMPTY.get(query.where)
    if (exempt !== undefined) {
      t.comment(`${query.where}: may be empty (${exempt}); got ${describe(res)}`)
      continue
    }
    t.ok(resultLength(res) > 0, `${query.where}: returns data (${query.instant ? 'instant' : 'range'})`, { expr, answer: describe(res) })
  }
}

function checkPanels (t: Test, answers: Map<string, ApiResponse<QueryData>>): void {
  const positive = (where: string): void => {
    const res = answers.get(where)
    t.ok(res !== undefined && values(res).some((v) => v > 0), `${where}: some value > 0`, { answer: res === undefined ? 'none' : JSON.stringify(res.data).slice(0, 1000) })
  }
  for (const refId of ['A', 'B', 'C', 'D', 'E']) positive(`panel "Requests by status class" ${refId}`)
  positive('panel "Proxy 5xx ratio" A')
  positive('panel "Limited ratio" A')
  positive('panel "Upstream error ratio" A')
  positive('annotation "Restarts"')

  const labelsOf = (where: string, label: string): Array<string | undefined> => [...new Set(labelSets(answers.get(where) ?? { status: 'error' }).map((m) => m[label]))].sort()
  t.same(labelsOf('panel "Top limited clients" A', 'client'), ['alpha', 'beta'], 'top limited clients: the two over their plans, not gamma')
  t.same(labelsOf('panel "Requests by route rule" A', 'route'), ['GET /healthz', 'POST /upload/*', 'default'], 'requests by route rule: the rules and default')
  // Every class is a series from the start (zeroed); these ones must have counted.
  const byClass = answers.get('panel "Upstream responses by status class" A')
  for (const statusClass of ['2xx', '3xx', '5xx']) {
    const series = byClass?.data?.resultType === 'matrix' ? byClass.data.result.find((s) => s.metric.status_class === statusClass) : undefined
    t.ok(series?.values.some((v) => Number(v[1]) > 0), `upstream responses by status class: ${statusClass} > 0`, { series })
  }
  // Decision series exist from the start (zeroed), so look for counted ones.
  const decisionsAnswer = answers.get('panel "Decisions by client" A')
  const decisions = decisionsAnswer?.data?.resultType === 'matrix'
    ? decisionsAnswer.data.result.filter((s) => s.values.some((v) => Number(v[1]) > 0)).map((s) => `${s.metric.client} ${s.metric.decision}`)
    : []
  for (const d of ['alpha allowed', 'alpha limited', 'beta allowed', 'beta limited', 'gamma allowed', 'unknown unauthenticated']) {
    t.ok(decisions.includes(d), `decisions by client: ${d} > 0`, { found: decisions })
  }
}

async function checkAlerts (t: Test, prometheus: Prometheus): Promise<void> {
  for (const name of [...EXPECT_ACTIVE, ...EXPECT_QUIET]) t.ok(alerts.some((a) => a.name === name), `${name} is an alert of alerts.yml`)
  for (const rule of rules) {
    const res = await prometheus.query(rule.expr)
    if (!parses(t, res, `${rule.type} rule ${rule.name}`, rule.expr)) continue
    if (EXPECT_ACTIVE.includes(rule.name)) {
      t.ok(resultLength(res) > 0, `alert ${rule.name}: its expression selects this scenario's trouble`, { expr: rule.expr, answer: describe(res) })
    } else if (EXPECT_QUIET.includes(rule.name)) {
      t.equal(resultLength(res), 0, `alert ${rule.name}: quiet on a healthy tollgate`, { expr: rule.expr, answer: JSON.stringify(res.data) })
    }
  }
  const labels = labelSets(await prometheus.query(alerts.find((a) => a.name === 'TollgateHighLimitedRatio')?.expr ?? 'vector(0)'))
  t.ok(labels.some((m) => m.client === 'alpha'), 'TollgateHighLimitedRatio names alpha (30/s against 5/s)', { found: labels })
}

async function checkRules (t: Test, prometheus: Prometheus): Promise<void> {
  // Go's zero time: a rule not evaluated yet.
  const never = (r: RuleState): boolean => r.lastEvaluation.startsWith('0001-')
  const deadline = Date.now() + 5000
  let loaded = await prometheus.rules()
  while (loaded.some(never) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 200))
    loaded = await prometheus.rules()
  }
  for (const rule of rules) {
    const state = loaded.find((r) => r.type === rule.type && r.name === rule.name)
    if (!t.ok(state, `${rule.type} rule ${rule.name} is loaded`, { loaded: loaded.map((r) => r.name) }) || state === undefined) continue
    t.equal(state.health, 'ok', `${rule.name}: health ok`, { lastError: state.lastError, expr: rule.expr })
    t.notOk(never(state), `${rule.name}: evaluated`, { lastEvaluation: state.lastEvaluation })
  }
  t.equal(loaded.length, rules.length, 'Prometheus runs exactly the rules of alerts.yml')
}
