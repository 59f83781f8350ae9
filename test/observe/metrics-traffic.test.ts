import t from 'tap'
import { startTollgate } from '../helpers/child'
import { get, post } from '../helpers/http'
import { startRedis } from '../helpers/redis'
import { LISTEN } from '../helpers/stack'
import { parseSamples, READY_TIMEOUT_MS, scrape, scrapeText, valueOf, type Labels, type Sample } from '../helpers/metrics'
import { startUpstream } from '../helpers/upstream'

// The catalog fed by real traffic: the real CLI, a real redis-server, a real upstream;
// every number read back from the admin listener's /metrics.

const DECISIONS = ['allowed', 'limited', 'would_limit', 'degraded']

t.test('redis-backed proxy: zeroed label sets, config metrics, and every counter fed by real requests', async (t) => {
  const redis = await startRedis(t)
  const upstream = await startUpstream(t)
  const startedAt = Date.now()
  const tollgate = await startTollgate(t, {
    readyTimeoutMs: READY_TIMEOUT_MS,
    configYaml: `${LISTEN}
upstream: ${upstream.url}
redis: ${redis.url}
plans:
  free: [ { max: 2, per: 1m } ]
  pro: [ { max: 100, per: 1m } ]
keys:
  - { name: acme, key: acme-key, plan: free }
  - { name: globex, key: globex-key, plan: pro }
routes:
  - { match: "GET /open/*", limit: false }
  - { match: "POST /v1/upload/*", cost: 1 }`
  })
  const listenedAt = Date.now()
  const listening = await tollgate.waitForLog((l) => l.msg === 'tollgate listening')
  const acme = { 'x-api-key': 'acme-key' }
  const globex = { 'x-api-key': 'globex-key' }

  t.test('before any request: the expected label sets exist, at zero', async (t) => {
    const samples = await scrape(tollgate)
    const clients: Array<[string, string]> = [['acme', 'free'], ['globex', 'pro']]
    for (const [client, plan] of clients) {
      for (const decision of DECISIONS) {
        t.equal(valueOf(samples, 'tollgate_ratelimit_decisions_total', { client, plan, decision }), 0, `${client}/${plan}/${decision} is 0`)
      }
    }
    t.equal(valueOf(samples, 'tollgate_ratelimit_decisions_total', { client: 'unknown', plan: 'none', decision: 'unauthenticated' }), 0,
      'unknown/none/unauthenticated is 0')
    const decisions = samples.filter((s) => s.name === 'tollgate_ratelimit_decisions_total')
    t.ok(decisions.every((s) => s.value === 0), 'no decision counted yet')
    for (const statusClass of ['1xx', '2xx', '3xx', '4xx', '5xx', 'error']) {
      t.equal(valueOf(samples, 'tollgate_upstream_requests_total', { status_class: statusClass }), 0, `upstream ${statusClass} is 0`)
    }
    for (const kind of ['connection', 'timeout', 'circuit_open', 'other']) {
      t.equal(valueOf(samples, 'tollgate_redis_errors_total', { kind }), 0, `redis errors ${kind} is 0`)
    }
    for (const result of ['success', 'failure']) {
      t.equal(valueOf(samples, 'tollgate_config_reloads_total', { result }), 0, `config reloads ${result} is 0`)
    }
    t.notOk(samples.some((s) => s.name === 'tollgate_http_requests_total' && s.labels.listener === 'proxy'), 'no proxy request counted yet')
  })

  t.test('config: loaded successfully at start, and named by the hash the listening line reports', async (t) => {
    const samples = await scrape(tollgate)
    t.equal(valueOf(samples, 'tollgate_config_last_reload_successful'), 1)
    const loadedAt = valueOf(samples, 'tollgate_config_last_reload_success_timestamp_seconds') ?? Number.NaN
    t.ok(loadedAt >= startedAt / 1000 && loadedAt <= listenedAt / 1000,
      `loaded at ${loadedAt}, between the spawn (${startedAt / 1000}) and the listening line (${listenedAt / 1000})`)
    t.match(listening.config, /^[0-9a-f]{12}$/, 'the listening line names the config hash')
    const info = samples.filter((s) => s.name === 'tollgate_config_info')
    t.same(info.map((s) => [s.labels, s.value]), [[{ hash: listening.config }, 1]], 'one config_info series, with that hash, at 1')
  })

  t.test('http requests and durations by listener, method, route rule and status code; never the raw path', async (t) => {
    t.equal((await get(`${tollgate.proxyUrl}/open/raw-open-a1b2`)).status, 200)
    t.equal((await get(`${tollgate.proxyUrl}/open/raw-open-c3d4?q=raw-query-e5f6`)).status, 200)
    t.equal((await get(`${tollgate.proxyUrl}/raw/default-g7h8`, globex)).status, 200)
    t.equal((await post(`${tollgate.proxyUrl}/v1/upload/raw-upload-i9j0`, 'x', globex)).status, 200)
    t.equal((await get(`${tollgate.proxyUrl}/status/503`, globex)).status, 503)
    t.equal((await get(`${tollgate.adminUrl}/health/live`)).status, 200)
    t.equal((await get(`${tollgate.adminUrl}/raw-admin-k1l2`)).status, 404)
    const body = await scrapeText(tollgate)
    const samples = parseSamples(body)
    const expected: Array<[Labels, number]> = [
      [{ listener: 'proxy', method: 'GET', route: 'GET /open/*', status_code: 200 }, 2],
      [{ listener: 'proxy', method: 'GET', route: 'default', status_code: 200 }, 1],
      [{ listener: 'proxy', method: 'POST', route: 'POST /v1/upload/*', status_code: 200 }, 1],
      [{ listener: 'proxy', method: 'GET', route: 'default', status_code: 503 }, 1],
      [{ listener: 'admin', method: 'GET', route: '/health/live', status_code: 200 }, 1]
    ]
    for (const [labels, count] of expected) {
      t.equal(valueOf(samples, 'tollgate_http_requests_total', labels), count, `requests ${JSON.stringify(labels)}`)
      t.equal(valueOf(samples, 'tollgate_http_request_duration_seconds_count', labels), count, `duration count ${JSON.stringify(labels)}`)
      t.ok((valueOf(samples, 'tollgate_http_request_duration_seconds_sum', labels) ?? 0) > 0, `duration sum ${JSON.stringify(labels)}`)
      t.equal(valueOf(samples, 'tollgate_http_request_duration_seconds_bucket', { ...labels, le: '+Inf' }), count, `+Inf bucket ${JSON.stringify(labels)}`)
    }
    // An admin path that matches no route is one bounded label, whatever the path.
    t.equal(valueOf(samples, 'tollgate_http_requests_total', { listener: 'admin', method: 'GET', route: 'unmatched', status_code: 404 }), 1,
      'the admin 404 is counted once, as route="unmatched"')
    for (const raw of ['raw-open', 'raw-query', 'raw-default', 'raw-upload', 'raw-admin', '/raw/', '/status/503']) {
      t.notOk(body.includes(raw), `/metrics never shows the raw path "${raw}"`)
    }
    const bounded = { proxy: ['GET /open/*', 'POST /v1/upload/*', 'default'], admin: ['/metrics', '/health/live', 'unmatched'] }
    const stray = samples.filter((s) => s.name === 'tollgate_http_requests_total' &&
      !(bounded[s.labels.listener as keyof typeof bounded] ?? []).includes(s.labels.route ?? ''))
    t.same(stray.map((s) => s.labels), [], 'every route label is a rule, default, or an admin route')
  })

  t.test('decisions and check durations: unauthenticated, limit: false, allowed, limited', async (t) => {
    const before = await scrape(tollgate)
    const decided = (samples: readonly Sample[], client: string, plan: string, decision: string): number =>
      valueOf(samples, 'tollgate_ratelimit_decisions_total', { client, plan, decision }) ?? Number.NaN
    const allDecisions = (samples: readonly Sample[]): number =>
      samples.filter((s) => s.name === 'tollgate_ratelimit_decisions_total').reduce((sum, s) => sum + s.value, 0)
    const checks = (samples: readonly Sample[]): number => valueOf(samples, 'tollgate_ratelimit_check_duration_seconds_count') ?? Number.NaN

    t.equal((await get(`${tollgate.proxyUrl}/open/free-for-all`, acme)).status, 200, 'limit: false route')
    t.equal((await get(`${tollgate.proxyUrl}/open/free-for-all`)).status, 200, 'limit: false route, no key')
    const afterOpen = await scrape(tollgate)
    t.equal(allDecisions(afterOpen), allDecisions(before), 'limit: false records no decision at all')
    t.equal(checks(afterOpen), checks(before), 'limit: false makes no check')

    const unknown = await get(`${tollgate.proxyUrl}/x`, { 'x-api-key': 'no-such-key-m3n4' })
    t.equal(unknown.status, 401)
    const missing = await get(`${tollgate.proxyUrl}/x`)
    t.equal(missing.status, 401, 'no key and no anonymous plan')
    t.equal((missing.json() as { error: string }).error, 'api_key_required')
    const afterRefused = await scrape(tollgate)
    t.equal(decided(afterRefused, 'unknown', 'none', 'unauthenticated'), decided(before, 'unknown', 'none', 'unauthenticated') + 1,
      'an unknown key is client="unknown", plan="none"')
    t.equal(valueOf(afterRefused, 'tollgate_ratelimit_decisions_total', { client: 'anonymous', plan: 'none', decision: 'unauthenticated' }), 1,
      'a missing key without an anonymous plan is client="anonymous", plan="none"')
    t.equal(checks(afterRefused), checks(before), 'an unauthenticated request makes no check')

    const statuses = []
    for (let i = 0; i < 3; i++) statuses.push((await get(`${tollgate.proxyUrl}/x`, acme)).status)
    t.same(statuses, [200, 200, 429], 'acme: max 2')
    const after = await scrape(tollgate)
    t.equal(decided(after, 'acme', 'free', 'allowed'), decided(before, 'acme', 'free', 'allowed') + 2, 'two allowed')
    t.equal(decided(after, 'acme', 'free', 'limited'), decided(before, 'acme', 'free', 'limited') + 1, 'the 429 is limited')
    t.equal(decided(after, 'acme', 'free', 'would_limit'), 0, 'no would_limit outside shadow mode')
    t.equal(decided(after, 'acme', 'free', 'degraded'), 0, 'nothing degraded while Redis answers')
    t.equal(checks(after), checks(before) + 3, 'one check per limited request')
    const sum = valueOf(after, 'tollgate_ratelimit_check_duration_seconds_sum') ?? 0
    t.ok(sum > 0 && sum < 3, `check time is a real Redis round trip (${sum} s for ${checks(after)})`)
    t.equal(valueOf(after, 'tollgate_ratelimit_check_duration_seconds_bucket', { le: '+Inf' }), checks(after))
    t.equal(valueOf(after, 'tollgate_redis_up'), 1, 'redis_up is 1 while Redis answers')
    t.equal(valueOf(after, 'tollgate_redis_circuit_state'), 0, 'the circuit is closed')
  })

  t.test('upstream requests and durations by status class', async (t) => {
    const before = await scrape(tollgate)
    // The counter is zeroed per class at start; a histogram series appears with its first observation.
    const count = (samples: readonly Sample[], name: string, statusClass: string): number =>
      valueOf(samples, name, { status_class: statusClass }) ?? (name.endsWith('_count') ? 0 : Number.NaN)
    t.equal((await get(`${tollgate.proxyUrl}/ok`, globex)).status, 200)
    t.equal((await get(`${tollgate.proxyUrl}/status/204`, globex)).status, 204)
    t.equal((await get(`${tollgate.proxyUrl}/status/404`, globex)).status, 404)
    t.equal((await get(`${tollgate.proxyUrl}/status/500`, globex)).status, 500)
    t.equal((await get(`${tollgate.proxyUrl}/status/502`, globex)).status, 502)
    const after = await scrape(tollgate)
    for (const [statusClass, n] of [['2xx', 2], ['4xx', 1], ['5xx', 2], ['error', 0], ['3xx', 0]] as const) {
      t.equal(count(after, 'tollgate_upstream_requests_total', statusClass), count(before, 'tollgate_upstream_requests_total', statusClass) + n,
        `${n} more ${statusClass}`)
    }
    for (const [statusClass, n] of [['2xx', 2], ['4xx', 1], ['5xx', 2]] as const) {
      t.equal(count(after, 'tollgate_upstream_duration_seconds_count', statusClass), count(before, 'tollgate_upstream_duration_seconds_count', statusClass) + n,
        `${n} more ${statusClass} timed`)
    }
    t.equal(valueOf(after, 'tollgate_upstream_up'), 1, 'the upstream answers')
  })
})
