import { execFile } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import t from 'tap'
import type { Test } from 'tap'
import { stringify } from 'yaml'

// The shipped Prometheus files, checked by the real promtool (CI installs Debian's
// `prometheus` package, 2.42): what an operator runs before deploying them.

const REPO_ROOT = resolve(__dirname, '..', '..')

interface Run {
  code: number
  stdout: string
  stderr: string
}

const MISSING = 'promtool is not installed: it comes with Prometheus (Debian/Ubuntu: apt-get install prometheus; ' +
  'or the promtool binary of a release from https://prometheus.io/download/). CI installs it.'

async function promtool (args: string[], cwd = REPO_ROOT): Promise<Run> {
  return await new Promise((resolve, reject) => {
    execFile('promtool', args, { cwd, timeout: 60_000 }, (error, stdout, stderr) => {
      if (error === null) return resolve({ code: 0, stdout, stderr })
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return reject(new Error(MISSING))
      // A non-zero exit: execFile's error carries the exit code as a number.
      const code = typeof error.code === 'number' ? error.code : -1
      resolve({ code, stdout, stderr })
    })
  })
}

function exitsZero (t: Test, run: Run, what: string, extra: Record<string, unknown> = {}): void {
  t.equal(run.code, 0, `${what} exits 0`, { stdout: run.stdout, stderr: run.stderr, ...extra })
}

t.test('promtool check config prometheus/prometheus.yml', async (t) => {
  exitsZero(t, await promtool(['check', 'config', 'prometheus/prometheus.yml']), 'check config')
})

t.test('promtool check rules --lint=all --lint-fatal prometheus/alerts.yml', async (t) => {
  exitsZero(t, await promtool(['check', 'rules', '--lint=all', '--lint-fatal', 'prometheus/alerts.yml']), 'check rules')
})

t.test('promtool test rules prometheus/alerts.test.yml', async (t) => {
  exitsZero(t, await promtool(['test', 'rules', 'prometheus/alerts.test.yml']), 'test rules')
})

// Grafana sends a query only after substituting its variables; with them substituted
// the way Grafana would for "All", every query of the dashboard must be valid PromQL.
// promtool parses expressions only inside rule files, so each becomes a recording rule.
t.test('every dashboard query is valid PromQL', async (t) => {
  const dashboard = JSON.parse(readFileSync(join(REPO_ROOT, 'grafana/dashboards/tollgate.json'), 'utf8')) as Dashboard
  const queries = dashboardQueries(dashboard)
  t.ok(queries.length > 20, `the dashboard has queries (${queries.length})`)
  const rules = queries.map(({ where, expr }, i) => {
    const promql = expr
      .replaceAll('$__rate_interval', '1m')
      .replaceAll('$instance', '.*')
      .replaceAll('$client', '.*')
    t.notMatch(promql, /\$/, `${where}: no variable left after substitution`)
    return { record: `dashboard:query_${i}`, expr: promql }
  })
  const dir = t.testdir()
  writeFileSync(join(dir, 'dashboard-queries.yml'), stringify({ groups: [{ name: 'dashboard', rules }] }))
  const where = Object.fromEntries(queries.map((query, i) => [`dashboard:query_${i}`, query.where]))
  exitsZero(t, await promtool(['check', 'rules', 'dashboard-queries.yml'], dir), 'check rules on the dashboard queries', { where })
})

interface Target { expr?: string }
interface Panel { title?: string, targets?: Target[], panels?: Panel[] }
interface Dashboard { panels: Panel[], annotations?: { list?: Array<{ name?: string, expr?: string }> } }

function dashboardQueries (dashboard: Dashboard): Array<{ where: string, expr: string }> {
  const found: Array<{ where: string, expr: string }> = []
  const visit = (panels: Panel[]): void => {
    for (const panel of panels) {
      for (const target of panel.targets ?? []) {
        if (target.expr !== undefined) found.push({ where: `panel "${panel.title ?? '?'}"`, expr: target.expr })
      }
      visit(panel.panels ?? [])
    }
  }
  visit(dashboard.panels)
  for (const annotation of dashboard.annotations?.list ?? []) {
    if (annotation.expr !== undefined) found.push({ where: `annotation "${annotation.name ?? '?'}"`, expr: annotation.expr })
  }
  return found
}
