import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import type { Test } from 'tap'
import { parse, parseDocument } from 'yaml'
import { startTollgate } from '../helpers/child'
import { REPO_ROOT } from '../helpers/spawn-ts'
import { get, type TextResponse } from '../helpers/http'
import { startPrometheus } from '../helpers/prometheus'
import { killAndWait, reapOnExit } from '../helpers/reap'
import { startRedis } from '../helpers/redis'

// docker-compose.yml's stack, its pieces run here without containers: the demo app
// (examples/app/server.js), Redis, tollgate with the compose config and a real
// Prometheus with the shipped prometheus/prometheus.yml. Only what Docker would give
// (service names, fixed ports) is rewritten to local addresses; the rest is the
// files as shipped. Then the README's walk-through: the app through tollgate, a limit
// hit, and Prometheus scraping tollgate with up == 1.

const read = (path: string): string => readFileSync(join(REPO_ROOT, path), 'utf8')

const COMPOSE_CONFIG = 'examples/compose/config.yml'
const DEMO_KEY = { 'x-api-key': 'demo-key' }
const APP_READY_TIMEOUT_MS = 10_000
/** Prometheus' scrape interval here, instead of the shipped 15s. */
const SCRAPE_INTERVAL = '1s'

/** Runs examples/app/server.js on a free loopback port, as the compose `app` service runs it. */
async function startDemoApp (t: Test): Promise<string> {
  const child = spawn(process.execPath, [join(REPO_ROOT, 'examples/app/server.js')], {
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  reapOnExit(child)
  t.teardown(async () => { await killAndWait(child) })
  let output = ''
  return await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the demo app did not start within ${APP_READY_TIMEOUT_MS} ms:\n${output}`)), APP_READY_TIMEOUT_MS)
    const collect = (chunk: Buffer): void => {
      output += chunk.toString()
      const line = output.split('\n').find((l) => l.includes('"demo app listening"'))
      if (line !== undefined) {
        clearTimeout(timer)
        resolve((JSON.parse(line) as { url: string }).url)
      }
    }
    child.stdout.on('data', collect)
    child.stderr.on('data', collect)
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`the demo app exited (code ${String(code)}) before listening:\n${output}`))
    })
  })
}

/** The compose config with Docker's names and ports swapped for the local ones. */
function localConfig (appUrl: string, redisUrl: string): string {
  const doc = parseDocument(read(COMPOSE_CONFIG))
  const swap = (path: string[], expected: string, local: string): void => {
    const value = doc.getIn(path)
    if (value !== expected) throw new Error(`${COMPOSE_CONFIG}: ${path.join('.')} is ${String(value)}, expected ${expected}`)
    doc.setIn(path, local)
  }
  swap(['upstream'], 'http://app:3000', appUrl)
  swap(['redis'], 'redis://redis:6379', redisUrl)
  swap(['listen', 'proxy'], '0.0.0.0:8080', '127.0.0.1:0')
  swap(['listen', 'admin'], '0.0.0.0:9464', '127.0.0.1:0')
  return doc.toString()
}

interface ScrapeConfig { job_name: string, static_configs: Array<{ targets: string[] }>, [key: string]: unknown }
interface PrometheusConfig { global: Record<string, unknown>, rule_files: string[], scrape_configs: ScrapeConfig[] }

/** The shipped prometheus.yml, pointed at the local tollgate and itself, scraping faster. */
function localPrometheus (adminHostPort: string, ownPort: number): PrometheusConfig {
  const config = parse(read('prometheus/prometheus.yml')) as PrometheusConfig
  config.global = { ...config.global, scrape_interval: SCRAPE_INTERVAL, evaluation_interval: SCRAPE_INTERVAL }
  // Relative to the config file, which runs from a temp dir here.
  config.rule_files = config.rule_files.map((file) => join(REPO_ROOT, 'prometheus', file))
  const local: Record<string, string> = { 'tollgate:9464': adminHostPort, 'localhost:9090': `127.0.0.1:${ownPort}` }
  for (const scrape of config.scrape_configs) {
    for (const group of scrape.static_configs) {
      group.targets = group.targets.map((target) => {
        if (local[target] === undefined) throw new Error(`prometheus.yml: no local address for the target ${target}`)
        return local[target]
      })
    }
  }
  return config
}

t.test('the compose stack, without containers', async (t) => {
  const redis = await startRedis(t)
  const appUrl = await startDemoApp(t)
  const tollgate = await startTollgate(t, { configYaml: localConfig(appUrl, redis.url) })
  const admin = new URL(tollgate.adminUrl).host

  t.test('the app answers through tollgate', async (t) => {
    const health = await get(`${tollgate.proxyUrl}/healthz`)
    t.equal(health.status, 200, 'GET /healthz (not limited)')
    t.same(health.json(), { status: 'ok' })

    const res = await get(`${tollgate.proxyUrl}/hello?x=1`, DEMO_KEY)
    t.equal(res.status, 200, 'GET /hello with the demo key')
    t.match(res.json(), { message: 'hello from the demo app', method: 'GET', path: '/hello', client: 'demo', plan: 'free' },
      'the app saw the client and plan tollgate identified')
    t.match(res.headers, { 'ratelimit-policy': /"free-1s";q=5;w=1/, 'x-ratelimit-limit': '5' }, 'rate-limit headers')
  })

  t.test('a burst over the plan hits the limit, as the README\'s curl loop does', async (t) => {
    // All at once: a loaded machine may space sequential requests by more than the
    // 200 ms in which plan free (5/s, burst 5) earns a request back.
    const responses = await Promise.all(Array.from({ length: 12 }, async () => await get(`${tollgate.proxyUrl}/`, DEMO_KEY)))
    const statuses = responses.map((r) => r.status)
    t.ok(statuses.includes(200), `200 among ${statuses.join(' ')}`)
    t.ok(statuses.includes(429), `429 among ${statuses.join(' ')}`)
    t.ok(statuses.every((s) => s === 200 || s === 429), 'nothing else')
    t.match(responses.find((r) => r.status === 429)?.headers, { 'retry-after': /^\d+$/ }, 'a 429 says when to retry')
  })

  t.test('/health/full: Redis and the app pass', async (t) => {
    const full: TextResponse = await get(`${tollgate.adminUrl}/health/full`)
    t.equal(full.status, 200, 'every required component passes')
    // The overall status may be `warn` (event-loop delay on a loaded machine): not asserted.
    t.match(full.json(), {
      checks: {
        'redis:responseTime': [{ status: 'pass' }],
        'upstream:responseTime': [{ status: 'pass' }]
      }
    })
  })

  t.test('Prometheus, configured from prometheus/prometheus.yml, scrapes tollgate: up == 1', async (t) => {
    const prometheus = await startPrometheus(t, (port) => localPrometheus(admin, port))
    const samples = await prometheus.waitForData('up{job="tollgate"}', 20_000)
    t.equal(samples.length, 1, 'one tollgate target')
    t.equal(samples[0]?.metric.instance, admin, 'the tollgate admin address')
    t.equal(samples[0]?.value[1], '1', 'up == 1')
    const decisions = await prometheus.waitForData('tollgate_ratelimit_decisions_total{client="demo",decision="limited"} > 0', 20_000)
    t.ok(decisions.length > 0, 'the limited requests are in Prometheus')
    const rules = await prometheus.rules()
    t.ok(rules.length > 0 && rules.every((r) => r.health !== 'err'), `the shipped alert rules load and evaluate (${rules.length})`)
  })
})
