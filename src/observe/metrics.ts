import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry, type RegistryContentType } from 'prom-client'
import { APPLIED_RELOAD_RESULTS, NO_PLAN, UNKNOWN_CLIENT } from '../config'
import { CHANGE_KINDS, OUTCOMES, STORE_ERROR_KINDS, type CircuitState, type StoreErrorKind } from '../limits'

/**
 * Every metric tollgate exports, on its own Registry. Names are the interface of the
 * shipped Grafana dashboard and alert rules (README, Metrics); the README's metric table is
 * checked against this file by a test.
 *
 * Labels are bounded whatever the traffic: `client` is a configured key name,
 * `anonymous` or `unknown`; `route` is a configured rule's `match`, `default` when no
 * rule matched, `malformed` when the request was refused before any rule could match,
 * or an admin route; never a raw path or key.
 */

/**
 * Sub-millisecond to seconds: a sidecar's own work is ~0.1–1 ms, a Redis round trip
 * ~0.2–2 ms, the app behind it ms to seconds; the top buckets catch timeouts
 * (Redis 250 ms, upstream 30 s).
 */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]
/** A Redis check is fast or it is a timeout: finer at the bottom. */
const CHECK_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1]

/**
 * The limiter's outcomes, `unauthenticated` for a request refused before any decision,
 * and `banned` for one refused by a ban (no limit check).
 */
export const DECISIONS = [...OUTCOMES, 'unauthenticated', 'banned'] as const
const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx', 'error'] as const
/** `tollgate_redis_circuit_state`: 0 closed (normal), 1 half-open (probing), 2 open. */
const CIRCUIT_STATE_VALUES: Record<CircuitState, number> = { closed: 0, half_open: 1, open: 2 }

type Registers = Array<Registry<RegistryContentType>>

/** Every answered request, on each listener. */
function httpMetrics (registers: Registers) {
  return {
    httpRequests: new Counter({
      name: 'tollgate_http_requests_total',
      help: 'HTTP requests answered, by listener (proxy|admin|decision|grpc), method, route rule and status code.',
      labelNames: ['listener', 'method', 'route', 'status_code'] as const,
      registers
    }),
    httpDuration: new Histogram({
      name: 'tollgate_http_request_duration_seconds',
      help: 'Time from request to response end, by listener, method, route rule and status code.',
      labelNames: ['listener', 'method', 'route', 'status_code'] as const,
      buckets: LATENCY_BUCKETS,
      registers
    })
  }
}

/** What the limiter decided, and how long the store took. */
function limiterMetrics (registers: Registers) {
  return {
    decisions: new Counter({
      name: 'tollgate_ratelimit_decisions_total',
      help: `Rate-limit decisions by client, plan and decision (${DECISIONS.join('|')}).`,
      labelNames: ['client', 'plan', 'decision'] as const,
      registers
    }),
    checkDuration: new Histogram({
      name: 'tollgate_ratelimit_check_duration_seconds',
      help: 'Time of one rate-limit check against the store (the Redis round trip).',
      buckets: CHECK_BUCKETS,
      registers
    })
  }
}

/** The app behind the proxy; every status class exists from the start. */
function upstreamMetrics (registers: Registers) {
  const metrics = {
    upstreamRequests: new Counter({
      name: 'tollgate_upstream_requests_total',
      help: 'Requests forwarded to the upstream app, by response status class (error: no response).',
      labelNames: ['status_class'] as const,
      registers
    }),
    upstreamDuration: new Histogram({
      name: 'tollgate_upstream_duration_seconds',
      help: 'Time until the upstream app answered with its response headers.',
      labelNames: ['status_class'] as const,
      buckets: LATENCY_BUCKETS,
      registers
    }),
    upstreamUp: new Gauge({
      name: 'tollgate_upstream_up',
      help: '1 when the periodic upstream check succeeded, else 0.',
      registers
    })
  }
  for (const statusClass of STATUS_CLASSES) metrics.upstreamRequests.inc({ status_class: statusClass }, 0)
  return metrics
}

/** The Redis store: connection, failures by kind (each from the start), circuit. */
function redisMetrics (registers: Registers) {
  const metrics = {
    redisUp: new Gauge({
      name: 'tollgate_redis_up',
      help: '1 while the Redis connection is ready, else 0 (also 0 with no Redis configured).',
      registers
    }),
    redisErrors: new Counter({
      name: 'tollgate_redis_errors_total',
      help: `Failed rate-limit checks against Redis by kind (${STORE_ERROR_KINDS.join('|')}).`,
      labelNames: ['kind'] as const,
      registers
    }),
    redisCircuitState: new Gauge({
      name: 'tollgate_redis_circuit_state',
      help: 'Circuit breaker in front of Redis: 0 closed, 1 half-open, 2 open.',
      registers
    })
  }
  for (const kind of STORE_ERROR_KINDS) metrics.redisErrors.inc({ kind }, 0)
  return metrics
}

/** Config loads and reloads; every applied result exists from the start. */
function configMetrics (registers: Registers) {
  const metrics = {
    configReloads: new Counter({
      name: 'tollgate_config_reloads_total',
      help: `Config reload attempts by result (${APPLIED_RELOAD_RESULTS.join('|')}).`,
      labelNames: ['result'] as const,
      registers
    }),
    configLastReloadSuccessful: new Gauge({
      name: 'tollgate_config_last_reload_successful',
      help: '1 when the last config load or reload succeeded, else 0.',
      registers
    }),
    configLastReloadSuccessTimestamp: new Gauge({
      name: 'tollgate_config_last_reload_success_timestamp_seconds',
      help: 'Unix time of the last successful config load or reload.',
      registers
    }),
    configInfo: new Gauge({
      name: 'tollgate_config_info',
      help: 'Always 1; the hash label names the config in force.',
      labelNames: ['hash'] as const,
      registers
    })
  }
  for (const result of APPLIED_RELOAD_RESULTS) metrics.configReloads.inc({ result }, 0)
  return metrics
}

/** The operator's changes (each kind from the start) and the build. */
function processMetrics (registers: Registers) {
  const metrics = {
    adminChanges: new Counter({
      name: 'tollgate_admin_changes_total',
      help: 'Changes made on this replica by kind (reload|override|ban): the audit trail, as a rate.',
      labelNames: ['kind'] as const,
      registers
    }),
    buildInfo: new Gauge({
      name: 'tollgate_build_info',
      help: 'Always 1; labels name the tollgate and Node.js versions.',
      labelNames: ['version', 'node_version'] as const,
      registers
    })
  }
  for (const kind of CHANGE_KINDS) metrics.adminChanges.inc({ kind }, 0)
  return metrics
}

export type Metrics = ReturnType<typeof createMetrics>

/** The groups in this order: it is the order of the `/metrics` text. */
export function createMetrics (build: { version: string }) {
  const registry = new Registry<RegistryContentType>()
  const registers = [registry]
  collectDefaultMetrics({ register: registry, prefix: 'tollgate_' })
  const metrics = {
    registry,
    ...httpMetrics(registers),
    ...limiterMetrics(registers),
    ...upstreamMetrics(registers),
    ...redisMetrics(registers),
    ...configMetrics(registers),
    ...processMetrics(registers)
  }
  metrics.buildInfo.set({ version: build.version, node_version: process.version }, 1)
  return metrics
}

/**
 * Handlers that turn the limit stores' events into metrics: check latency, failures
 * by kind, Redis connection state, circuit state.
 */
export function storeMetrics (metrics: Metrics) {
  return {
    onCheck: (seconds: number) => { metrics.checkDuration.observe(seconds) },
    onStoreFailure: (kind: StoreErrorKind) => { metrics.redisErrors.inc({ kind }) },
    onRedisUp: (up: boolean) => { metrics.redisUp.set(up ? 1 : 0) },
    onCircuitState: (state: CircuitState) => { metrics.redisCircuitState.set(CIRCUIT_STATE_VALUES[state]) }
  }
}

/** Zeroes the decision series of every configured client, so they exist before the first request. */
export function zeroDecisions (metrics: Metrics, clients: ReadonlyArray<{ client: string, plan: string }>): void {
  for (const { client, plan } of clients) {
    for (const decision of DECISIONS) {
      if (decision !== 'unauthenticated') metrics.decisions.inc({ client, plan, decision }, 0)
    }
  }
  metrics.decisions.inc({ client: UNKNOWN_CLIENT, plan: NO_PLAN, decision: 'unauthenticated' }, 0)
}

export const OPENMETRICS = Registry.OPENMETRICS_CONTENT_TYPE
export const PROMETHEUS_TEXT = Registry.PROMETHEUS_CONTENT_TYPE

/**
 * Renders a registry in the format asked for. prom-client strips `_total` from counter
 * names in place while rendering OpenMetrics (it mutates `metric.name` and leaves it
 * so), which would break every later Prometheus-format scrape; so this renderer runs
 * one scrape at a time and restores the names after each OpenMetrics one.
 */
export function metricsRenderer (registry: Registry<RegistryContentType>): (openMetrics: boolean) => Promise<{ contentType: string, body: string }> {
  let previous: Promise<unknown> = Promise.resolve()
  const render = async (openMetrics: boolean): Promise<{ contentType: string, body: string }> => {
    if (!openMetrics) return { contentType: PROMETHEUS_TEXT, body: await registry.metrics() }
    const saved = registry.getMetricsAsArray()
      .filter((m) => String(m.type) === 'counter')
      .map((metric) => ({ metric, name: metric.name }))
    registry.setContentType(OPENMETRICS)
    try {
      return { contentType: OPENMETRICS, body: await registry.metrics() }
    } finally {
      registry.setContentType(PROMETHEUS_TEXT)
      for (const { metric, name } of saved) metric.name = name
    }
  }
  return async (openMetrics) => {
    const run = previous.then(async () => await render(openMetrics))
    previous = run.catch(() => undefined)
    return await run
  }
}
