import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Counter, Gauge, Histogram, register as globalRegistry } from 'prom-client'
import t from 'tap'
import { createMetrics, metricsRenderer } from '../../src/observe/metrics'
import { at } from '../helpers/at'
import { REPO_ROOT } from '../helpers/spawn-ts'
import { get, type TextResponse } from '../helpers/http'
import { stack } from '../helpers/stack'

// The shape of /metrics: one own Registry, names with prefix and units, help text,
// build info, what promtool says of it, and the two formats a scraper may ask for.

const PROMETHEUS_TEXT = /^text\/plain; version=0\.0\.4(;|$)/
const OPENMETRICS = /^application\/openmetrics-text; version=1\.0\.0(;|$)/
/** What Prometheus 2.x sends when it scrapes. */
const PROMETHEUS_ACCEPT = 'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1'

/** The metric objects createMetrics() makes itself, as opposed to prom-client's defaults. */
function created (metrics: ReturnType<typeof createMetrics>): Array<Counter | Gauge | Histogram> {
  return Object.values(metrics).filter((m): m is Counter | Gauge | Histogram =>
    m instanceof Counter || m instanceof Gauge || m instanceof Histogram)
}

t.test('createMetrics uses its own Registry, never prom-client\'s global one', async (t) => {
  const a = createMetrics({ version: '1.2.3' })
  // A second set would throw "already registered" on a shared registry.
  const b = createMetrics({ version: '1.2.3' })
  t.not(a.registry, b.registry)
  t.not(a.registry, globalRegistry)
  t.same(globalRegistry.getMetricsAsArray().map((m) => m.name), [], 'the global registry stays empty')
  t.ok(a.registry.getSingleMetric('tollgate_http_requests_total') === a.httpRequests, 'each set is on its own registry')
})

t.test('every metric: tollgate_ prefix, help text, unit and _total in the name where they belong', async (t) => {
  const metrics = createMetrics({ version: '1.2.3' })
  const mine = created(metrics)
  t.ok(mine.length >= 15, `createMetrics makes the catalog (${mine.length})`)
  for (const metric of mine) {
    const { name, help } = metric as unknown as { name: string, help: string }
    t.match(name, /^tollgate_[a-z0-9_]+$/, `${name}: prefix`)
    t.ok(help.length > 20, `${name}: help text`)
    if (metric instanceof Counter) t.match(name, /_total$/, `${name}: a counter ends in _total`)
    else t.notMatch(name, /_total$/, `${name}: only counters end in _total`)
    if (metric instanceof Histogram) t.match(name, /_seconds$/, `${name}: a histogram of durations is in seconds`)
  }
  for (const metric of metrics.registry.getMetricsAsArray()) {
    t.match(metric.name, /^tollgate_/, `${metric.name}: the defaults carry the prefix too`)
  }
})

// prom-client renames counters in place while it renders OpenMetrics; metricsRenderer
// restores the names, and runs one render at a time so a Prometheus-format render never
// starts while an OpenMetrics one is half done. A collector that takes real time makes
// that overlap certain here; in the sidecar a scrape can overlap once any collector awaits.
t.test('regression: a Prometheus render in flight with an OpenMetrics one keeps the _total names', async (t) => {
  const metrics = createMetrics({ version: '1.2.3' })
  metrics.httpRequests.inc({ listener: 'proxy', method: 'GET', route: 'default', status_code: 200 })
  // eslint-disable-next-line no-new -- the constructor registers the gauge, which is all it is for
  new Gauge({
    name: 'tollgate_test_slow_collect',
    help: 'A gauge whose collect takes 20 ms.',
    registers: [metrics.registry],
    async collect () { await new Promise((resolve) => setTimeout(resolve, 20)) }
  })
  const render = metricsRenderer(metrics.registry)
  const results = await Promise.all([render(true), render(false), render(true), render(false)])
  results.push(await render(false))
  for (const [i, { contentType, body }] of results.entries()) {
    if (i % 2 === 0 && i < 4) {
      t.match(contentType, OPENMETRICS, `render ${i}: OpenMetrics`)
      t.ok(body.endsWith('# EOF\n'), `render ${i}: ends with # EOF`)
      t.match(body, /^# TYPE tollgate_http_requests counter$/m)
    } else {
      t.match(contentType, PROMETHEUS_TEXT, `render ${i}: Prometheus text`)
      t.notMatch(body, /# EOF/, `render ${i}: not OpenMetrics`)
      t.match(body, /^# TYPE tollgate_http_requests_total counter$/m, `render ${i}: the counter keeps its _total`)
      t.match(body, /^tollgate_http_requests_total\{listener="proxy",method="GET",route="default",status_code="200"\} 1$/m)
      t.notMatch(body, /^tollgate_http_requests\{/m)
    }
  }
  t.equal((metrics.httpRequests as unknown as { name: string }).name, 'tollgate_http_requests_total', 'the counter\'s own name is back')
})

interface PromtoolRun { code: number | null, stdout: string, stderr: string }

async function promtoolCheckMetrics (input: string): Promise<PromtoolRun> {
  return await new Promise((resolve, reject) => {
    const child = spawn('promtool', ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk })
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk })
    child.once('error', (error: NodeJS.ErrnoException) => {
      reject(error.code === 'ENOENT' ? new Error('promtool is not installed (it comes with Prometheus; CI installs it)') : error)
    })
    child.once('close', (code) => resolve({ code, stdout, stderr }))
    child.stdin.end(input)
  })
}

t.test('the real sidecar\'s /metrics', async (t) => {
  const { tollgate } = await stack(t, (upstream, redis) => `
upstream: ${upstream}
redis: ${redis}
plans:
  free: [ { max: 1, per: 1m } ]
  anonymous: [ { max: 1, per: 1m } ]
keys: [ { name: acme, key: acme-key, plan: free } ]
routes: [ { match: "GET /open/*", limit: false } ]`)
  // Traffic first, so every kind of series (histograms included) has values.
  const key = { 'x-api-key': 'acme-key' }
  t.same([
    (await get(`${tollgate.proxyUrl}/a`, key)).status,
    (await get(`${tollgate.proxyUrl}/a`, key)).status,
    (await get(`${tollgate.proxyUrl}/a`, { 'x-api-key': 'wrong-key' })).status,
    (await get(`${tollgate.proxyUrl}/a`)).status,
    (await get(`${tollgate.proxyUrl}/open/x`)).status,
    (await get(`${tollgate.proxyUrl}/status/500`, {})).status,
    (await get(`${tollgate.adminUrl}/health/live`)).status
  ], [200, 429, 401, 200, 200, 429, 200])
  const metricsOf = async (accept?: string): Promise<TextResponse> =>
    await get(`${tollgate.adminUrl}/metrics`, accept === undefined ? {} : { accept })

  t.test('build info, default process metrics with the prefix, help on every family', async (t) => {
    const { body } = await metricsOf()
    const { version } = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }
    t.match(body, new RegExp(`^tollgate_build_info\\{version="${version.replaceAll('.', '\\.')}",node_version="${process.version.replaceAll('.', '\\.')}"\\} 1$`, 'm'),
      'tollgate_build_info names the package and Node.js versions')
    for (const name of ['tollgate_process_cpu_user_seconds_total', 'tollgate_process_resident_memory_bytes', 'tollgate_process_start_time_seconds',
      'tollgate_nodejs_heap_size_used_bytes', 'tollgate_nodejs_eventloop_lag_seconds', 'tollgate_nodejs_version_info']) {
      t.match(body, new RegExp(`^${name}(\\{.*\\})? \\S+$`, 'm'), `default metric ${name}`)
    }
    const families = [...body.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => at(m, 1))
    t.ok(families.length > 30, `${families.length} families`)
    t.same(families.filter((name) => !name.startsWith('tollgate_')), [], 'every family has the tollgate_ prefix')
    t.same(body.split('\n').filter((line) => line !== '' && !line.startsWith('#') && !line.startsWith('tollgate_')), [],
      'every series has the tollgate_ prefix')
    for (const name of families) {
      t.match(body, new RegExp(`^# HELP ${name} \\S.{10,}$`, 'm'), `${name} has help text`)
    }
  })

  t.test('promtool check metrics', async (t) => {
    const { body } = await metricsOf()
    const run = await promtoolCheckMetrics(body)
    const output = `${run.stdout}${run.stderr}`.split('\n').filter((line) => line.trim() !== '')
    // The known exception: prom-client's default gauges tollgate_nodejs_active_handles_total,
    // _active_requests_total and _active_resources_total end in _total without being
    // counters, which promtool's linter flags. They are prom-client's names, kept as
    // they are so that dashboards written for prom-client find them.
    const KNOWN = /^tollgate_nodejs_active_(handles|requests|resources)_total non-counter metrics should not have "_total" suffix$/
    const known = output.filter((line) => KNOWN.test(line))
    const rest = output.filter((line) => !KNOWN.test(line))
    t.same(rest, [], 'promtool finds nothing else', { promtool: output })
    t.ok(run.code === 0 || (known.length > 0 && rest.length === 0), `promtool exit ${String(run.code)} is explained by the known lint lines only`)
    // promtool must have parsed the body: a body it cannot parse is an error line too,
    // which `rest` would show; this makes sure it is not silently empty.
    t.ok(body.includes('tollgate_http_requests_total{'), 'the checked body has the catalog in it')
  })

  t.test('content negotiation: Prometheus text by default, OpenMetrics when asked', async (t) => {
    for (const accept of [undefined, 'text/plain', 'text/plain;version=0.0.4', '*/*']) {
      const res = await metricsOf(accept)
      t.equal(res.status, 200)
      t.match(res.headers['content-type'], PROMETHEUS_TEXT, `Accept: ${String(accept)} → Prometheus text`)
      t.notMatch(res.body, /# EOF/)
      t.match(res.body, /^# TYPE tollgate_http_requests_total counter$/m)
    }
    for (const accept of [PROMETHEUS_ACCEPT, 'application/openmetrics-text', 'application/openmetrics-text; version=1.0.0']) {
      const res = await metricsOf(accept)
      t.equal(res.status, 200)
      t.match(res.headers['content-type'], OPENMETRICS, `Accept: ${accept} → OpenMetrics`)
      t.ok(res.body.endsWith('# EOF\n'), 'an OpenMetrics body ends with # EOF')
      t.match(res.body, /^# TYPE tollgate_http_requests counter$/m, 'OpenMetrics names the counter family without _total')
      t.match(res.body, /^tollgate_http_requests_total\{listener="proxy",/m, 'and its samples with it')
    }
  })

  t.test('regression: a Prometheus scrape after OpenMetrics ones still has tollgate_http_requests_total', async (t) => {
    const checkPrometheus = (res: TextResponse, what: string): void => {
      t.match(res.headers['content-type'], PROMETHEUS_TEXT, `${what}: Prometheus text`)
      t.match(res.body, /^# TYPE tollgate_http_requests_total counter$/m, `${what}: the family keeps _total`)
      t.match(res.body, /^tollgate_http_requests_total\{listener="proxy",method="GET",route="default",status_code="200"\} \d+$/m, `${what}: series keep _total`)
      t.match(res.body, /^# TYPE tollgate_ratelimit_decisions_total counter$/m, `${what}: every counter keeps it`)
      t.notMatch(res.body, /^tollgate_http_requests\{/m, `${what}: no series without _total`)
    }
    t.match((await metricsOf(PROMETHEUS_ACCEPT)).headers['content-type'], OPENMETRICS)
    checkPrometheus(await metricsOf(), 'after one OpenMetrics scrape')
    // Two scrapers (say Prometheus and a curl) in flight at once, several times over.
    const accepts = Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? PROMETHEUS_ACCEPT : 'text/plain'))
    const responses = await Promise.all(accepts.map(async (accept) => await metricsOf(accept)))
    for (const [i, res] of responses.entries()) {
      if (accepts[i] === PROMETHEUS_ACCEPT) {
        t.match(res.headers['content-type'], OPENMETRICS)
        t.ok(res.body.endsWith('# EOF\n'))
      } else {
        checkPrometheus(res, `concurrent scrape ${i}`)
      }
    }
    checkPrometheus(await metricsOf('text/plain'), 'after the concurrent scrapes')
  })
})
