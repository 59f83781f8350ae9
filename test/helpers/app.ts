import { Writable } from 'node:stream'
import type { Test } from 'tap'
import { buildApp } from '../../src/app'
import { durationMs, parseConfig } from '../../src/config'
import { buildRuntime, openStores } from '../../src/limits'
import { createLogger, createMetrics, Health, storeMetrics } from '../../src/observe'
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

/**
 * buildApp in this process, on the embedded store, with both listeners on ports the OS
 * picks: for tests of the proxy's own logic that need real sockets (raw request
 * targets) but not the CLI's signals or reloads. `yaml` is the config without
 * `listen`; the logs are captured instead of printed.
 */
export async function inProcess (t: Test, yaml: string): Promise<InProcess> {
  const parsed = parseConfig(yaml, {}, 'test.yml')
  if (!parsed.ok) throw new Error(parsed.errors.join('\n'))
  const { config } = parsed
  const logs: Array<Record<string, unknown>> = []
  const sink = new Writable({
    write (chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n')) if (line !== '') logs.push(JSON.parse(line) as Record<string, unknown>)
      callback()
    }
  })
  const log = createLogger('info', sink)
  const metrics = createMetrics({ version: 'test' })
  const stores = openStores(config, log, storeMetrics(metrics))
  const runtime = buildRuntime(config, stores)
  const forwarder = config.upstream === undefined
    ? undefined
    : new Forwarder({ url: config.upstream.url, timeoutMs: durationMs(config.upstream.timeout) })
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
