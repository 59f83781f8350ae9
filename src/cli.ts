import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { isatty } from 'node:tty'
import { parseArgs } from 'node:util'
import { durationMs, keysSummary, LiveConfig, loadConfigFile, redisSummary, watchConfig, type Config, type ReloadResult } from './config'
import type { LiveState, Shutdown } from './lifecycle'
import { hashKey } from './hash-key'

const USAGE = `Usage:
  tollgate [--config FILE]        serve (default config: ./config.yml, or $TOLLGATE_CONFIG)
  tollgate check-config FILE      validate FILE: exit 0 with a summary, or 1 with every error
  tollgate hash-key [KEY]         print the sha256 of KEY, for keys[].sha256 in config.yml;
                                  without KEY it reads one line from stdin (recommended: an
                                  argument shows in ps and in shell history):
                                  tollgate hash-key < key.txt, or type it at the prompt
  tollgate --version | --help`

/** How long the start waits for Redis to answer before opening the proxy port anyway. */
const REDIS_START_WAIT_MS = 10_000

function version (): string {
  const pkg = JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as { version: string }
  return pkg.version
}

function summary (config: Config, hash: string): string {
  const lines = [`config OK (hash ${hash})`]
  const decision = config.listen.decision === undefined ? '' : `, decision ${config.listen.decision}`
  lines.push(`  listen:   proxy ${config.listen.proxy}, admin ${config.listen.admin}${decision}`)
  lines.push(`  upstream: ${config.upstream?.url ?? '(none: the proxy listener serves the decision API)'}`)
  lines.push(`  store:    ${config.redis === undefined ? 'embedded memory (one replica only)' : redisSummary(config.redis)}, on_redis_error: ${config.on_redis_error}`)
  lines.push('  plans:')
  for (const [plan, windows] of Object.entries(config.plans)) {
    lines.push(`    ${plan}: ${windows.map((w) => `${w.max}/${w.per} ${w.algorithm ?? config.algorithm}`).join(', ')}`)
  }
  lines.push(...keysSummary(config.keys))
  lines.push(config.routes.length === 0 ? '  routes:   (none)' : '  routes:')
  for (const route of config.routes) {
    const extra = Object.keys(route.plans ?? {})
    lines.push(`    ${route.match}: ${route.limit ? `cost ${route.cost}${extra.length > 0 ? `, own windows for ${extra.join(', ')}` : ''}` : 'not limited'}`)
  }
  if (config.shadow) lines.push('  shadow:   on (limits are counted, never enforced)')
  lines.push(...rlsSummary(config))
  return lines.join('\n')
}

/** The `rls` lines of the check-config summary. */
function rlsSummary (config: Config): string[] {
  const domains = Object.entries(config.rls?.domains ?? {})
  if (domains.length === 0 && config.listen.grpc === undefined) return []
  const lines = [`  grpc:     ${config.listen.grpc ?? '(no listen.grpc: the rls section is not served)'}${config.rls?.allow_overrides === true ? ', limit overrides allowed' : ''}`]
  for (const [domain, rules] of domains) {
    lines.push(`    ${domain}: ${rules.map((r) => `[${r.match.map((e) => e.value === undefined ? e.key : `${e.key}=${e.value}`).join(', ')}] → ${r.unlimited ? 'unlimited' : r.plan ?? "the key's plan"}${r.shadow ? ' (shadow)' : ''}`).join('; ')}`)
  }
  return lines
}

async function checkConfig (file: string): Promise<number> {
  const result = await loadConfigFile(file, process.env)
  if (!result.ok) {
    process.stderr.write(`${file}: ${result.errors.length} error(s)\n${result.errors.map((e) => `  ${e}`).join('\n')}\n`)
    return 1
  }
  for (const warning of result.warnings) process.stderr.write(`warning: ${warning}\n`)
  process.stdout.write(summary(result.config, result.hash) + '\n')
  return 0
}

function splitHostPort (value: string): { host: string, port: number } {
  const colon = value.lastIndexOf(':')
  const host = value.slice(0, colon).replace(/^\[(.*)\]$/, '$1')
  return { host: host === '' ? '0.0.0.0' : host, port: Number(value.slice(colon + 1)) }
}

async function serve (configPath: string): Promise<void> {
  const loaded = await loadConfigFile(configPath, process.env)
  if (!loaded.ok) {
    process.stderr.write(`tollgate: cannot start, ${configPath} has ${loaded.errors.length} error(s):\n${loaded.errors.map((e) => `  ${e}`).join('\n')}\n`)
    process.exitCode = 1
    return
  }
  const { config } = loaded
  // Loaded here, not at the top: one-shot commands (check-config, hash-key) stay fast.
  const [{ default: closeWithGrace }, { buildApp }, limits, observe, lifecycle, { applyServerSettings, Forwarder, probeUpstream }] = await Promise.all([
    import('close-with-grace'), import('./app'), import('./limits'), import('./observe'), import('./lifecycle'), import('./proxy')
  ])
  const log = observe.createLogger(config.log_level)
  for (const warning of loaded.warnings) log.warn(warning)

  const release = version()
  const metrics = observe.createMetrics({ version: release })
  const events = observe.storeMetrics(metrics)

  const stores = limits.openStores(config, log, events)
  // Until the first Redis has answered once, readiness waits for it whatever on_redis_error says.
  let redisAnswered = stores.redis === undefined
  stores.redis?.once('ready', () => { redisAnswered = true })
  const live = new LiveConfig<LiveState>(
    { config, hash: loaded.hash, loadedAt: new Date(), state: { runtime: limits.buildRuntime(config, stores), stores } },
    {
      path: configPath,
      env: process.env,
      build: async (next, previous) => await lifecycle.buildState(next, previous, { log, events }),
      onReload: (result, trigger, current, previous) => { lifecycle.reportReload({ log, metrics }, result, trigger, current, previous) }
    }
  )
  lifecycle.recordConfigInForce(metrics, live.current)

  // listen and upstream need a restart, so the forwarder and the probe keep the first config's.
  const upstream = config.upstream
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
      const { path, timeout } = live.current.config.upstream_health
      return await probeUpstream(upstream.url, path, durationMs(timeout))
    }
  let upstreamTimer: NodeJS.Timeout | undefined
  const checkUpstream = async (): Promise<void> => {
    if (probe === undefined) return
    metrics.upstreamUp.set((await probe()).ok ? 1 : 0)
    // Re-armed each time: a reloaded interval applies from the next check.
    upstreamTimer = setTimeout(() => { void checkUpstream() }, durationMs(live.current.config.upstream_health.interval))
    upstreamTimer.unref()
  }
  await checkUpstream()

  let shutdown: Shutdown | undefined
  const draining = (): boolean => shutdown?.draining ?? false
  const components = [
    observe.redisComponent(() => live.current.state.stores.redisHealth, () => !redisAnswered || live.current.config.on_redis_error === 'deny'),
    observe.upstreamComponent(probe),
    observe.configComponent(() => ({ hash: live.current.hash, loadedAt: live.current.loadedAt, lastReload: live.lastReload })),
    observe.eventLoopComponent(),
    observe.memoryComponent(() => process.memoryUsage()),
    observe.shutdownComponent(draining)
  ]
  // Each check is cut at 1 s whatever its own timeout: probes (kubelet's default
  // timeoutSeconds is 1) must get an answer, and a check that slow is a failure anyway.
  const health = new observe.Health({ components: () => components })
  // Asked explicitly (SIGHUP, POST /-/reload), a rejected file is reported again; the watch reports it once.
  const reload = async (trigger: string): Promise<ReloadResult> => {
    const result = await live.reload(trigger, { repeat: trigger !== 'watch' })
    // `server:` applies to the listening servers at once (reload runs only once they exist).
    if (result.result === 'success') applyServerSettings({ proxy: app.proxy.server, admin: app.admin.server }, live.current.config.server)
    return result
  }
  const app = await buildApp({
    log,
    metrics,
    health,
    version: release,
    forwarder,
    decisionListener: config.listen.decision !== undefined,
    draining,
    currentRuntime: () => live.current.state.runtime,
    reload: async () => await reload('POST /-/reload')
  })
  applyServerSettings({ proxy: app.proxy.server, admin: app.admin.server }, config.server)
  // listen.grpc needs a restart, like every listener: the first config's decides.
  const grpcServer = config.listen.grpc === undefined
    ? undefined
    : new (await import('./grpc')).GrpcServer({ log, metrics, draining, currentRuntime: () => live.current.state.runtime })
  const watch = watchConfig(configPath, () => { void reload('watch') }, {
    onError: (error) => log.warn({ err: { message: error.message } }, 'config watch failed; polling only')
  })
  const onSighup = (): void => { void reload('SIGHUP') }
  process.on('SIGHUP', onSighup)

  const stopped = new lifecycle.Shutdown({
    log,
    proxy: app.proxy,
    admin: app.admin,
    decision: app.decision,
    grpc: grpcServer,
    interactive: isatty(0),
    timing: () => ({
      drainDelayMs: durationMs(live.current.config.shutdown.drain_delay),
      graceMs: durationMs(live.current.config.shutdown.grace)
    }),
    answered: async () => (await metrics.httpRequests.get()).values
      .filter((v) => v.labels.listener === 'proxy' || v.labels.listener === 'decision')
      .reduce((sum, v) => sum + v.value, 0),
    release: async () => {
      watch.close()
      process.off('SIGHUP', onSighup)
      clearTimeout(upstreamTimer)
      await forwarder?.close()
      await live.current.state.stores.close()
    }
  })
  shutdown = stopped
  const flushed = async (): Promise<void> => { await new Promise<void>((resolve) => { log.flush(() => resolve()) }) }

  // close-with-grace owns the signals (SIGTERM, SIGINT; uncaught errors too) and the exit
  // code; the deadline is ours, read from the live config when the signal comes.
  const { uninstall } = closeWithGrace({
    delay: false,
    // SIGHUP reloads (above); close-with-grace would treat it as a shutdown.
    skip: ['SIGHUP'],
    logger: { error: (message: unknown) => { if (!(message instanceof lifecycle.DeadlineError)) log.error({ err: message }, 'shutdown failed') } },
    onSecondSignal: (signal) => {
      log.error({ signal, cut: stopped.cutAll() }, 'second signal: cutting every connection and exiting')
    }
  }, async ({ signal, err }) => {
    try {
      await stopped.run({ signal, err })
    } finally {
      await flushed()
    }
  })

  let proxyUrl: string, adminUrl: string, decisionUrl: string | undefined, grpcAddress: string | undefined
  try {
    // The admin port first: while Redis is awaited, /health/live passes (a kubelet must
    // not kill a pod that is only waiting) and /health/ready fails naming redis.
    adminUrl = await app.admin.listen(splitHostPort(config.listen.admin))
    if (stores.redis !== undefined) {
      redisAnswered = await limits.waitForRedis(stores.redis, REDIS_START_WAIT_MS, log)
      if (!redisAnswered) log.error({ waitedMs: REDIS_START_WAIT_MS }, `redis did not answer; opening anyway, on_redis_error: ${config.on_redis_error} decides until it does`)
      // A signal during the wait: the drain owns the exit, and these listeners stay shut.
      if (draining()) return
    }
    proxyUrl = await app.proxy.listen(splitHostPort(config.listen.proxy))
    if (app.decision !== undefined && config.listen.decision !== undefined) decisionUrl = await app.decision.listen(splitHostPort(config.listen.decision))
    if (grpcServer !== undefined && config.listen.grpc !== undefined) grpcAddress = await grpcServer.listen(config.listen.grpc)
  } catch (error) {
    // close-with-grace would exit 0 on `beforeExit`: a port in use must exit 1.
    uninstall()
    watch.close()
    process.off('SIGHUP', onSighup)
    clearTimeout(upstreamTimer)
    log.fatal({ err: { message: (error as Error).message } }, 'cannot listen')
    grpcServer?.cutAll()
    await Promise.allSettled([app.proxy.close(), app.admin.close(), app.decision?.close(), forwarder?.close(), stores.close()])
    log.flush()
    process.exitCode = 1
    return
  }
  log.info({
    proxy: proxyUrl,
    admin: adminUrl,
    decision: decisionUrl,
    grpc: grpcAddress,
    upstream: upstream?.url ?? 'none: the proxy listener serves the decision API',
    config: loaded.hash
  }, 'tollgate listening')
}

export async function main (argv: readonly string[]): Promise<void> {
  let parsed
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        config: { type: 'string', short: 'c' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'v' }
      }
    })
  } catch (error) {
    process.stderr.write(`tollgate: ${(error as Error).message}\n${USAGE}\n`)
    process.exitCode = 2
    return
  }
  const { values, positionals } = parsed
  const [command, ...rest] = positionals
  if (values.help === true) {
    process.stdout.write(USAGE + '\n')
  } else if (values.version === true) {
    process.stdout.write(version() + '\n')
  } else if (command === 'check-config' && rest.length === 1 && rest[0] !== undefined) {
    process.exitCode = await checkConfig(rest[0])
  } else if (command === 'hash-key' && rest.length <= 1) {
    process.exitCode = await hashKey(rest[0], {
      stdin: process.stdin,
      out: (text) => { process.stdout.write(text) },
      err: (text) => { process.stderr.write(text) }
    })
  } else if (command === undefined || command === 'serve') {
    await serve(values.config ?? process.env.TOLLGATE_CONFIG ?? 'config.yml')
  } else {
    process.stderr.write(`tollgate: unknown command or arguments: ${argv.join(' ')}\n${USAGE}\n`)
    process.exitCode = 2
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((error: unknown) => {
    process.stderr.write(`tollgate: ${error instanceof Error ? error.message : String(error)}\n`)
    process.exitCode = 1
  })
}
