import { Writable } from 'node:stream'
import type { Test } from 'tap'
import { buildApp, type App } from '../../src/app'
import { durationMs, parseConfig, type Config } from '../../src/config'
import { buildRuntime, openStores, type Runtime } from '../../src/limits'
import { createLogger, createMetrics, Health, storeMetrics, type Metrics } from '../../src/observe'
import type { RedisConnection } from '../../src/limits/redis-client'
import { Forwarder } from '../../src/proxy'

export interface InProcess {
  /** `http://127.0.0.1:PORT` of the proxy listener. */
  readonly proxyUrl: string
  readonly proxyPort: number
  readonly adminUrl: string
  readonly adminPort: number
  /** `http://127.0.0.1:PORT` of the decision listener, when the config has `listen.decision`. */
  readonly decisionUrl: string | undefined
  /** Every log line written so far, parsed. */
  readonly logs: Array<Record<string, unknown>>
  /** The Prometheus text of the registry, as `/metrics` would render it. */
  metricsText(): Promise<string>
}

/** The logs a built app wrote so far, parsed, and the logger writing them. */
export function capturedLog (level = 'info'): { log: ReturnType<typeof createLogger>, logs: Array<Record<string, unknown>> } {
  const logs: Array<Record<string, unknown>> = []
  const sink = new Writable({
    write (chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n')) if (line !== '') logs.push(JSON.parse(line) as Record<string, unknown>)
      callback()
    }
  })
  return { log: createLogger(level, sink), logs }
}

/** Parses a test's config text, or throws its errors. */
export function testConfig (yaml: string): Config {
  const parsed = parseConfig(yaml, {}, 'test.yml')
  if (!parsed.ok) throw new Error(parsed.errors.join('\n'))
  return parsed.config
}

/**
 * `buildApp` on a config as the CLI would wire it (stores, runtime, upstream pool), with
 * no listener open; everything is closed at teardown. For `inject` tests, and for tests
 * that listen themselves.
 */
export interface TestApp {
  readonly app: App
  readonly metrics: Metrics
  /** The runtime the app answers from, for a listener built beside it (the gRPC server). */
  readonly currentRuntime: () => Runtime
}

/** Until the client's first connection is up or has failed (10 s at most). */
async function firstConnection (client: RedisConnection): Promise<void> {
  if (client.status === 'ready') return
  await new Promise<void>((resolve) => {
    const done = (): void => { clearTimeout(timer); client.off('ready', done); client.off('error', done); resolve() }
    const timer = setTimeout(done, 10_000)
    client.once('ready', done)
    client.once('error', done)
  })
}

export async function buildTestApp (t: Test, config: Config, log = createLogger('silent')): Promise<TestApp> {
  const metrics = createMetrics({ version: 'test' })
  const stores = openStores(config, log, storeMetrics(metrics))
  const runtime = buildRuntime(config, stores)
  const forwarder = config.upstream === undefined
    ? undefined
    : new Forwarder({
      url: config.upstream.url,
      timeoutMs: durationMs(config.upstream.timeout),
      // Counted as the CLI counts them (src/server-parts.ts openUpstream).
      onResponse: (statusClass, seconds) => {
        metrics.upstreamRequests.inc({ status_class: statusClass })
        metrics.upstreamDuration.observe({ status_class: statusClass }, seconds)
      }
    })
  // The CLI opens the proxy port once Redis answers: a first check before would be
  // `degraded`. A Redis a test has made unreachable on purpose answers its first
  // connection with an error, and the app serves without it, as the CLI does after its wait.
  if (stores.redis !== undefined) await firstConnection(stores.redis)
  const app = await buildApp({
    log,
    metrics,
    health: new Health({ components: () => [] }),
    version: 'test',
    currentRuntime: () => runtime,
    forwarder,
    decisionListener: config.listen.decision !== undefined,
    draining: () => false,
    reload: async () => { throw new Error('no reload in process') }
  })
  t.teardown(async () => {
    await Promise.allSettled([app.proxy.close(), app.admin.close(), app.decision?.close()])
    await forwarder?.close()
    await stores.close()
  })
  return { app, metrics, currentRuntime: () => runtime }
}

/**
 * buildApp in this process, on the embedded store, with both listeners on ports the OS
 * picks: for tests of the proxy's own logic that need real sockets (raw request
 * targets) but not the CLI's signals or reloads. `yaml` is the config without
 * `listen`; the logs are captured instead of printed.
 */
export async function inProcess (t: Test, yaml: string): Promise<InProcess> {
  const { log, logs } = capturedLog()
  const { app, metrics } = await buildTestApp(t, testConfig(yaml), log)
  await app.proxy.listen({ host: '127.0.0.1', port: 0 })
  await app.admin.listen({ host: '127.0.0.1', port: 0 })
  await app.decision?.listen({ host: '127.0.0.1', port: 0 })
  const port = (instance: typeof app.proxy): number => {
    const address = instance.server.address()
    if (address === null || typeof address === 'string') throw new Error('not listening on TCP')
    return address.port
  }
  const proxyPort = port(app.proxy)
  const adminPort = port(app.admin)
  return {
    proxyUrl: `http://127.0.0.1:${proxyPort}`,
    proxyPort,
    adminUrl: `http://127.0.0.1:${adminPort}`,
    adminPort,
    decisionUrl: app.decision === undefined ? undefined : `http://127.0.0.1:${port(app.decision)}`,
    logs,
    metricsText: async () => await metrics.registry.metrics()
  }
}
