import { readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import t from 'tap'
import { createMetrics } from '../../src/observe/metrics'
import { at } from '../helpers/at'

// A query on a metric that does not exist is not an error in PromQL: it is an empty
// panel, or an alert that can never fire. Every tollgate_* name in the dashboard, the
// alerts, their tests and the runbook must be one that tollgate exports.

const REPO_ROOT = resolve(__dirname, '..', '..')
const read = (path: string): string => readFileSync(join(REPO_ROOT, path), 'utf8')

/** prom-client's default metrics, registered with the `tollgate_` prefix (prom-client 15, Node 20+). */
const DEFAULT_METRICS = [
  'tollgate_process_cpu_user_seconds_total',
  'tollgate_process_cpu_system_seconds_total',
  'tollgate_process_cpu_seconds_total',
  'tollgate_process_start_time_seconds',
  'tollgate_process_resident_memory_bytes',
  'tollgate_process_virtual_memory_bytes',
  'tollgate_process_heap_bytes',
  'tollgate_process_open_fds',
  'tollgate_process_max_fds',
  'tollgate_nodejs_eventloop_lag_seconds',
  'tollgate_nodejs_eventloop_lag_min_seconds',
  'tollgate_nodejs_eventloop_lag_max_seconds',
  'tollgate_nodejs_eventloop_lag_mean_seconds',
  'tollgate_nodejs_eventloop_lag_stddev_seconds',
  'tollgate_nodejs_eventloop_lag_p50_seconds',
  'tollgate_nodejs_eventloop_lag_p90_seconds',
  'tollgate_nodejs_eventloop_lag_p99_seconds',
  'tollgate_nodejs_active_resources',
  'tollgate_nodejs_active_resources_total',
  'tollgate_nodejs_active_handles',
  'tollgate_nodejs_active_handles_total',
  'tollgate_nodejs_active_requests',
  'tollgate_nodejs_active_requests_total',
  'tollgate_nodejs_heap_size_total_bytes',
  'tollgate_nodejs_heap_size_used_bytes',
  'tollgate_nodejs_external_memory_bytes',
  'tollgate_nodejs_heap_space_size_total_bytes',
  'tollgate_nodejs_heap_space_size_used_bytes',
  'tollgate_nodejs_heap_space_size_available_bytes',
  'tollgate_nodejs_version_info',
  'tollgate_nodejs_gc_duration_seconds'
]
/** Default metrics prom-client registers only on Linux (it reads /proc). */
const LINUX_ONLY = ['tollgate_process_open_fds', 'tollgate_process_max_fds', 'tollgate_process_virtual_memory_bytes', 'tollgate_process_heap_bytes']

const DEFINED = [...read('src/observe/metrics.ts').matchAll(/name: '(tollgate_[a-z0-9_]+)'/g)].map((m) => at(m, 1))
const KNOWN = new Set([...DEFINED, ...DEFAULT_METRICS])

/** tollgate_* names in a text, histogram series named by their histogram. */
function referenced (text: string): Set<string> {
  return new Set([...text.matchAll(/tollgate_[a-z0-9_]+/g)].map((m) => m[0].replace(/_(bucket|sum|count)$/, '')))
}

t.test('the registry holds exactly the metrics of metrics.ts and the listed defaults', async (t) => {
  t.ok(DEFINED.length >= 15, `metrics.ts defines metrics (${DEFINED.length})`)
  const registered = createMetrics({ version: '0.0.0' }).registry.getMetricsAsArray().map((metric) => metric.name)
  for (const name of registered) t.ok(KNOWN.has(name), `${name} is listed here`)
  const expected = process.platform === 'linux' ? [...KNOWN] : [...KNOWN].filter((name) => !LINUX_ONLY.includes(name))
  for (const name of expected) t.ok(registered.includes(name), `${name} is registered`)
})

for (const file of ['grafana/dashboards/tollgate.json', 'prometheus/alerts.yml', 'prometheus/alerts.test.yml', 'docs/runbook.md']) {
  t.test(`every metric name in ${file} exists`, async (t) => {
    const names = referenced(read(file))
    t.ok(names.size > 0, `${file} names metrics`)
    for (const name of names) {
      // `tollgate_config_` in a grep pattern of the runbook is a prefix, not a name.
      if (name.endsWith('_')) t.ok([...KNOWN].some((known) => known.startsWith(name)), `${name} is the prefix of a metric`)
      else t.ok(KNOWN.has(name), name)
    }
  })
}
