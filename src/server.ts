import type { DestinationStream } from 'pino'
import { buildApp, type App } from './app'
import { watchConfig, type Config } from './config'
import type { GrpcServer } from './grpc'
import { Draining, Signals } from './lifecycle'
import { REDIS_START_WAIT_MS } from './limits'
import * as observe from './observe'
import { applyServerSettings, type Forwarder } from './proxy'
import { healthOf, openLive, openUpstream, reloaderOf, shutdownOf, type Live } from './server-parts'

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
 * Opens the ports in the order of the contract. The admin port first: while Redis is
 * awaited, /health/live passes (a kubelet must not kill a pod that is only waiting)
 * and /health/ready fails naming redis; `redisWaited` hears how the wait ended. Undefined
 * when a signal came during the wait: the drain owns the exit, the other ports stay shut.
 */
async function listen (app: App, grpc: GrpcServer | undefined, live: Live, log: observe.Logger, draining: Draining, redisWaited: (answered: boolean) => void): Promise<Omit<Tollgate, 'stop'> | undefined> {
  const { listen } = live.config
  const adminUrl = await app.admin.listen(splitHostPort(listen.admin))
  if (live.state.usesRedis) {
    const answered = await live.state.waitForRedis(log)
    redisWaited(answered)
    if (!answered) log.error({ waitedMs: REDIS_START_WAIT_MS }, `redis did not answer; opening anyway, on_redis_error: ${live.config.on_redis_error} decides until it does`)
    if (draining.on) return undefined
  }
  const proxyUrl = await app.proxy.listen(splitHostPort(listen.proxy))
  const decisionUrl = app.decision === undefined || listen.decision === undefined ? undefined : await app.decision.listen(splitHostPort(listen.decision))
  const grpcAddress = grpc === undefined || listen.grpc === undefined ? undefined : await grpc.listen(listen.grpc)
  return { proxyUrl, adminUrl, decisionUrl, grpcAddress }
}

/** The `tollgate listening` line: every URL, the upstream and the config's hash. */
function logListening (log: observe.Logger, urls: Omit<Tollgate, 'stop'>, loaded: StartOptions['loaded']): void {
  log.info({
    proxy: urls.proxyUrl,
    admin: urls.adminUrl,
    decision: urls.decisionUrl,
    grpc: urls.grpcAddress,
    upstream: loaded.config.upstream?.url ?? 'none: the proxy listener serves the decision API',
    config: loaded.hash
  }, 'tollgate listening')
}

/** `listen`, then the `tollgate listening` line; a port that cannot be opened closes everything (`stop`). */
async function openPorts (parts: { app: App, grpc: GrpcServer | undefined, live: Live, log: observe.Logger, draining: Draining, loaded: StartOptions['loaded'], stop: () => Promise<void> }, redisWaited: (answered: boolean) => void): Promise<Started> {
  const { log, stop } = parts
  let urls: Omit<Tollgate, 'stop'> | undefined
  try {
    urls = await listen(parts.app, parts.grpc, parts.live, log, parts.draining, redisWaited)
  } catch (error) {
    log.fatal({ err: error }, 'cannot listen')
    await stop()
    log.flush()
    return { status: 'failed' }
  }
  if (urls === undefined) return { status: 'draining' }
  logListening(log, urls, parts.loaded)
  return { status: 'listening', tollgate: { ...urls, stop } }
}

/** Closes what `start` opened, in order: traffic first, the stores, the spans, the admin port last. */
async function closeAll (parts: { app: App, grpc: GrpcServer | undefined, forwarder: Forwarder | undefined, loop: observe.UpstreamProbe | undefined, live: Live, tracing: boolean }): Promise<void> {
  const { app, grpc, forwarder, loop, live } = parts
  loop?.stop()
  grpc?.cutAll()
  await Promise.allSettled([app.proxy.close(), app.decision?.close(), forwarder?.close()])
  await live.state.close()
  // The spans of the drained requests, bounded (FLUSH_TIMEOUT_MS): a dead collector never holds the exit.
  if (parts.tracing) await observe.stopTracing()
  // Last, so /metrics and /health/* answer to the end.
  await app.admin.close()
}

/**
 * Starts a tollgate on a loaded config: the state and the upstream, the listeners, the
 * watch, stop() and the signals that drain into it, then the ports (`listen`).
 */
export async function start (options: StartOptions): Promise<Started> {
  const { config, warnings } = options.loaded
  const log = observe.createLogger(config.log_level, options.logTo)
  for (const warning of warnings) log.warn(warning)
  const metrics = observe.createMetrics({ version: options.version })
  // Before the listeners: the hot path reads it per request. Off unless OTEL_ asks.
  const tracing = observe.startTracing(options.env, log)
  const live = await openLive(options, log, metrics)
  // Until the first Redis has answered once, readiness waits for it whatever on_redis_error says.
  let redisAnswered = !live.state.usesRedis
  live.state.onceRedisReady(() => { redisAnswered = true })
  const { forwarder, probe, loop } = openUpstream(live, metrics)
  await loop?.start()

  const draining = new Draining()
  const health = healthOf(live, probe, () => !redisAnswered || live.config.on_redis_error === 'deny', draining, options.memoryUsage)
  // POST /-/reload and the listeners' `server:` settings need each other: `reload` reads
  // `app` only once a reload runs, after the listeners exist.
  const reload = reloaderOf({ log, metrics, live, servers: () => ({ proxy: app.proxy.server, admin: app.admin.server }) })
  const app: App = await buildApp({
    log,
    metrics,
    health,
    version: options.version,
    forwarder,
    decisionListener: config.listen.decision !== undefined,
    draining: () => draining.on,
    currentRuntime: () => live.state.runtime,
    reload: async (who) => await reload('POST /-/reload', who),
    configHash: () => live.current.hash
  })
  applyServerSettings({ proxy: app.proxy.server, admin: app.admin.server }, config.server)
  // listen.grpc needs a restart, like every listener: the first config's decides.
  const grpc = config.listen.grpc === undefined
    ? undefined
    : new (await import('./grpc')).GrpcServer({ log, metrics, draining: () => draining.on, currentRuntime: () => live.state.runtime })
  const watch = watchConfig(options.configPath, () => { void reload('watch') }, {
    onError: (error) => log.warn({ err: error }, 'config watch failed; polling only')
  })
  const signals = new Signals({ log, onSighup: () => { void reload('SIGHUP') } })

  const stop = once(async () => {
    signals.uninstall()
    watch.close()
    await closeAll({ app, grpc, forwarder, loop, live, tracing: tracing !== undefined })
  })
  const shutdown = shutdownOf({ log, metrics, live, app, grpc, draining, interactive: options.interactive, stop })
  signals.install(shutdown)

  return await openPorts({ app, grpc, live, log, draining, loaded: options.loaded, stop }, (answered) => { redisAnswered = answered })
}
