import type { DestinationStream } from 'pino'
import { buildApp, type App } from './app'
import {
  configuredClients, durationMs, LiveConfig, recordConfigInForce, reportReload, watchConfig,
  type Config, type ReloadResult
} from './config'
import { Draining, Shutdown, Signals } from './lifecycle'
import { LimitState, REDIS_START_WAIT_MS } from './limits'
import * as observe from './observe'
import { applyServerSettings, Forwarder, probeUpstream } from './proxy'

export interface StartOptions {
  /** The file the config came from: watched, and re-read on every reload. */
  readonly configPath: string
  /** The config loaded from it, with its text hash and the warnings to log. */
  readonly loaded: { readonly config: Config, readonly hash: string, readonly warnings: readonly string[] }
  /** What `${VAR}` in the file reads on reload. */
  readonly env: Readonly<Record<string, string | undefined>>
  /** The package version, for `tollgate_build_info` and the admin port. */
  readonly version: string
  /** stdin is a terminal: a SIGINT is someone's Ctrl-C (see Shutdown). */
  readonly interactive: boolean
  /** For `/health/full`'s memory component. */
  readonly memoryUsage: () => NodeJS.MemoryUsage
  /** Where the JSON log lines go. Default: stdout. */
  readonly logTo?: DestinationStream
}

/** A tollgate with every listener open. */
export interface Tollgate {
  readonly proxyUrl: string
  readonly adminUrl: string
  readonly decisionUrl?: string
  readonly grpcAddress?: string
  /** The one cleanup: closes every listener, the watch, the probe, the upstream pool and the stores. */
  stop: () => Promise<void>
}

/**
 * What `start` came to: listening, or not and why. `failed`: a port could not be
 * opened (logged, everything closed). `draining`: a signal came during the Redis wait;
 * the drain owns the exit and the other listeners stay shut.
 */
export type Started =
  | { readonly status: 'listening', readonly tollgate: Tollgate }
  | { readonly status: 'failed' | 'draining' }

function splitHostPort (value: string): { host: string, port: number } {
  const colon = value.lastIndexOf(':')
  const host = value.slice(0, colon).replace(/^\[(.*)\]$/, '$1')
  return { host: host === '' ? '0.0.0.0' : host, port: Number(value.slice(colon + 1)) }
}

/** Runs `fn` once, however many paths call it; later calls get the first call's promise. */
function once (fn: () => Promise<void>): () => Promise<void> {
  let running: Promise<void> | undefined
  return async () => { await (running ??= fn()) }
}

/**
 * Starts a tollgate on a loaded config. The order is the contract: the admin port
 * first, then (with Redis) the bounded wait for Redis, then the proxy, decision and
 * gRPC listeners. Signals drain it from the moment the listeners exist.
 */
export async function start (options: StartOptions): Promise<Started> {
  const { config, hash, warnings } = options.loaded
  const log = observe.createLogger(config.log_level, options.logTo)
  for (const warning of warnings) log.warn(warning)
  const metrics = observe.createMetrics({ version: options.version })

  const deps = { log, events: observe.storeMetrics(metrics) }
  const first = await LimitState.build(config, deps)
  // Until the first Redis has answered once, readiness waits for it whatever on_redis_error says.
  let redisAnswered = !first.usesRedis
  first.onceRedisReady(() => { redisAnswered = true })
  const live = new LiveConfig<LimitState>({ config, hash, loadedAt: new Date(), state: first }, {
    path: options.configPath,
    env: options.env,
    build: async (next, previous) => await LimitState.build(next, deps, previous),
    onReload: (result, trigger, current, previous) => {
      if (result.result === 'success') {
        current.state.retire(previous.state)
        observe.zeroDecisions(metrics, configuredClients(current.config))
      }
      reportReload({ log, metrics }, result, trigger, current, previous)
    }
  })
  recordConfigInForce(metrics, live.current)
  observe.zeroDecisions(metrics, configuredClients(config))

  // listen and upstream need a restart, so the forwarder and the probe keep the first config's.
  const { upstream } = config
  const forwarder = upstream === undefined
    ? undefined
    : new Forwarder({
      url: upstream.url,
      timeoutMs: durationMs(upstream.timeout),
      onResponse: (statusClass, seconds) => {
        metrics.upstreamRequests.inc({ status_class: statusClass })
        metrics.upstreamDuration.observe({ status_class: statusClass }, seconds)
      }
    })
  const probe = upstream === undefined
    ? undefined
    : async () => {
      const { path, timeout } = live.config.upstream_health
      return await probeUpstream(upstream.url, path, durationMs(timeout))
    }
  const upstreamProbe = probe === undefined
    ? undefined
    : new observe.UpstreamProbe({
      probe,
      intervalMs: () => durationMs(live.config.upstream_health.interval),
      onResult: (up) => { metrics.upstreamUp.set(up ? 1 : 0) }
    })
  await upstreamProbe?.start()

  const draining = new Draining()
  const components = [
    observe.redisComponent(() => live.state.redisHealth, () => !redisAnswered || live.config.on_redis_error === 'deny'),
    observe.upstreamComponent(probe),
    observe.configComponent(() => ({ hash: live.current.hash, loadedAt: live.current.loadedAt, lastReload: live.lastReload })),
    observe.eventLoopComponent(),
    observe.memoryComponent(options.memoryUsage),
    observe.shutdownComponent(() => draining.on)
  ]
  // Each check is cut at 1 s whatever its own timeout: probes (kubelet's default
  // timeoutSeconds is 1) must get an answer, and a check that slow is a failure anyway.
  const health = new observe.Health({ components: () => components })
  // POST /-/reload and the listeners' `server:` settings need each other: `reload` reads
  // `app` only once a reload runs, after the listeners exist.
  const reload = async (trigger: string): Promise<ReloadResult> => {
    // Asked explicitly (SIGHUP, POST /-/reload), a rejected file is reported again; the watch reports it once.
    const result = await live.reload(trigger, { repeat: trigger !== 'watch' })
    if (result.result === 'success') applyServerSettings({ proxy: app.proxy.server, admin: app.admin.server }, live.config.server)
    return result
  }
  const app: App = await buildApp({
    log,
    metrics,
    health,
    version: options.version,
    forwarder,
    decisionListener: config.listen.decision !== undefined,
    draining: () => draining.on,
    currentRuntime: () => live.state.runtime,
    reload: async () => await reload('POST /-/reload')
  })
  applyServerSettings({ proxy: app.proxy.server, admin: app.admin.server }, config.server)
  // listen.grpc needs a restart, like every listener: the first config's decides.
  const grpc = config.listen.grpc === undefined
    ? undefined
    : new (await import('./grpc')).GrpcServer({ log, metrics, draining: () => draining.on, currentRuntime: () => live.state.runtime })
  const watch = watchConfig(options.configPath, () => { void reload('watch') }, {
    onError: (error) => log.warn({ err: { message: error.message } }, 'config watch failed; polling only')
  })
  const signals = new Signals({ log, onSighup: () => { void reload('SIGHUP') } })

  const stop = once(async () => {
    signals.uninstall()
    watch.close()
    upstreamProbe?.stop()
    grpc?.cutAll()
    await Promise.allSettled([app.proxy.close(), app.decision?.close(), forwarder?.close()])
    await live.state.close()
    // Last, so /metrics and /health/* answer to the end.
    await app.admin.close()
  })
  const shutdown = new Shutdown({
    log,
    draining,
    proxy: app.proxy,
    admin: app.admin,
    decision: app.decision,
    grpc,
    interactive: options.interactive,
    timing: () => ({
      drainDelayMs: durationMs(live.config.shutdown.drain_delay),
      graceMs: durationMs(live.config.shutdown.grace)
    }),
    answered: async () => (await metrics.httpRequests.get()).values
      .filter((v) => v.labels.listener === 'proxy' || v.labels.listener === 'decision')
      .reduce((sum, v) => sum + v.value, 0),
    release: stop
  })
  signals.install(shutdown)

  let urls: Omit<Tollgate, 'stop'>
  try {
    // The admin port first: while Redis is awaited, /health/live passes (a kubelet must
    // not kill a pod that is only waiting) and /health/ready fails naming redis.
    const adminUrl = await app.admin.listen(splitHostPort(config.listen.admin))
    if (first.usesRedis) {
      redisAnswered = await first.waitForRedis(log)
      if (!redisAnswered) log.error({ waitedMs: REDIS_START_WAIT_MS }, `redis did not answer; opening anyway, on_redis_error: ${config.on_redis_error} decides until it does`)
      if (draining.on) return { status: 'draining' }
    }
    const proxyUrl = await app.proxy.listen(splitHostPort(config.listen.proxy))
    const decisionUrl = app.decision === undefined || config.listen.decision === undefined ? undefined : await app.decision.listen(splitHostPort(config.listen.decision))
    const grpcAddress = grpc === undefined || config.listen.grpc === undefined ? undefined : await grpc.listen(config.listen.grpc)
    urls = { proxyUrl, adminUrl, decisionUrl, grpcAddress }
  } catch (error) {
    log.fatal({ err: { message: error instanceof Error ? error.message : String(error) } }, 'cannot listen')
    await stop()
    log.flush()
    return { status: 'failed' }
  }
  log.info({
    proxy: urls.proxyUrl,
    admin: urls.adminUrl,
    decision: urls.decisionUrl,
    grpc: urls.grpcAddress,
    upstream: upstream?.url ?? 'none: the proxy listener serves the decision API',
    config: hash
  }, 'tollgate listening')
  return { status: 'listening', tollgate: { ...urls, stop } }
}
