import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { durationMs, loadConfigFile, type Config } from './config'
import { isWellFormedKey, sha256Hex } from './limits/identity'

const USAGE = `Usage:
  tollgate [--config FILE]        serve (default config: ./config.yml, or $TOLLGATE_CONFIG)
  tollgate check-config FILE      validate FILE: exit 0 with a summary, or 1 with every error
  tollgate hash-key KEY           print the sha256 of KEY, for keys[].sha256 in config.yml
  tollgate --version | --help`

/** How long the start waits for Redis to answer before opening the proxy port anyway. */
const REDIS_START_WAIT_MS = 10_000

function version (): string {
  const pkg = JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as { version: string }
  return pkg.version
}

function summary (config: Config, hash: string): string {
  const lines = [`config OK (hash ${hash})`]
  lines.push(`  listen:   proxy ${config.listen.proxy}, admin ${config.listen.admin}`)
  lines.push(`  upstream: ${config.upstream?.url ?? '(none: decision API only)'}`)
  lines.push(`  store:    ${config.redis === undefined ? 'embedded memory (one replica only)' : 'redis'}, on_redis_error: ${config.on_redis_error}`)
  lines.push(`  plans:`)
  for (const [plan, windows] of Object.entries(config.plans)) {
    lines.push(`    ${plan}: ${windows.map((w) => `${w.max}/${w.per} ${w.algorithm ?? config.algorithm}`).join(', ')}`)
  }
  lines.push(`  keys:     ${config.keys.length === 0 ? '(none)' : config.keys.map((k) => `${k.name} (${k.plan})`).join(', ')}`)
  lines.push(config.routes.length === 0 ? '  routes:   (none)' : '  routes:')
  for (const route of config.routes) {
    const extra = Object.keys(route.plans ?? {})
    lines.push(`    ${route.match}: ${route.limit ? `cost ${route.cost}${extra.length > 0 ? `, own windows for ${extra.join(', ')}` : ''}` : 'not limited'}`)
  }
  if (config.shadow) lines.push('  shadow:   on (limits are counted, never enforced)')
  return lines.join('\n')
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
  const { config, hash } = loaded
  // Loaded here, not at the top: one-shot commands (check-config, hash-key) stay fast.
  const [{ default: closeWithGrace }, { buildApp }, limits, observe, { Forwarder, probeUpstream }] =
    await Promise.all([import('close-with-grace'), import('./app'), import('./limits'), import('./observe'), import('./proxy')])
  const log = observe.createLogger(config.log_level, config.api_key.header)
  for (const warning of loaded.warnings) log.warn(warning)

  const release = version()
  const metrics = observe.createMetrics({ version: release })
  const loadedAt = new Date()
  metrics.configLastReloadSuccessful.set(1)
  metrics.configLastReloadSuccessTimestamp.set(loadedAt.getTime() / 1000)
  metrics.configInfo.set({ hash }, 1)
  observe.zeroDecisions(metrics, [
    ...config.keys.map((key) => ({ client: key.name, plan: key.plan })),
    ...(config.plans.anonymous === undefined ? [] : [{ client: 'anonymous', plan: 'anonymous' }])
  ])

  const stores = limits.openStores(config, log, observe.storeMetrics(metrics))
  const { redis } = stores
  // Until Redis has answered once, readiness waits for it whatever on_redis_error says.
  let redisAnswered = redis === undefined
  if (redis !== undefined) {
    redis.on('ready', () => { redisAnswered = true })
    redisAnswered = await limits.waitForRedis(redis, REDIS_START_WAIT_MS, log)
    if (!redisAnswered) log.error({ waitedMs: REDIS_START_WAIT_MS }, `redis did not answer; opening anyway, on_redis_error: ${config.on_redis_error} decides until it does`)
  }
  const runtime = limits.buildRuntime(config, hash, stores)

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
    : async () => await probeUpstream(upstream.url, config.upstream_health.path, durationMs(config.upstream_health.timeout))
  const upstreamTimer = probe === undefined
    ? undefined
    : setInterval(() => { void probe().then((result) => metrics.upstreamUp.set(result.ok ? 1 : 0)) }, durationMs(config.upstream_health.interval))
  upstreamTimer?.unref()
  if (probe !== undefined) metrics.upstreamUp.set((await probe()).ok ? 1 : 0)

  let shuttingDown = false
  const components = [
    observe.redisComponent(redis === undefined ? undefined : async () => await redis.ping(), () => !redisAnswered || config.on_redis_error === 'deny'),
    observe.upstreamComponent(probe),
    observe.configComponent(() => ({ hash, loadedAt })),
    observe.eventLoopComponent(),
    observe.memoryComponent(() => process.memoryUsage()),
    observe.shutdownComponent(() => shuttingDown)
  ]
  const health = new observe.Health({ components: () => components })
  const app = await buildApp({ log, metrics, health, version: release, currentRuntime: () => runtime, forwarder })

  const { uninstall } = closeWithGrace({
    delay: durationMs(config.shutdown.drain_delay) + durationMs(config.shutdown.grace),
    logger: { error: (message: unknown) => log.error({ err: message }, 'shutdown') }
  }, async ({ signal, err }) => {
    shuttingDown = true
    if (err !== undefined) log.error({ err }, 'fatal error, shutting down')
    else log.info({ signal }, 'shutting down')
    clearInterval(upstreamTimer)
    await app.proxy.close()
    await forwarder?.close()
    await app.admin.close()
    await stores.close()
    log.info('tollgate stopped')
    log.flush()
  })

  let proxyUrl: string, adminUrl: string
  try {
    proxyUrl = await app.proxy.listen(splitHostPort(config.listen.proxy))
    adminUrl = await app.admin.listen(splitHostPort(config.listen.admin))
  } catch (error) {
    // close-with-grace would exit 0 on `beforeExit`: a port in use must exit 1.
    uninstall()
    clearInterval(upstreamTimer)
    log.fatal({ err: { message: (error as Error).message } }, 'cannot listen')
    await Promise.allSettled([app.proxy.close(), app.admin.close(), forwarder?.close(), stores.close()])
    log.flush()
    process.exitCode = 1
    return
  }
  log.info({ proxy: proxyUrl, admin: adminUrl, upstream: upstream?.url, config: hash }, 'tollgate listening')
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
  } else if (command === 'check-config' && rest.length === 1) {
    process.exitCode = await checkConfig(rest[0])
  } else if (command === 'hash-key' && rest.length === 1) {
    if (!isWellFormedKey(rest[0])) {
      // Such a key could never match: requests carrying it get 400 malformed_api_key.
      process.stderr.write('tollgate: a key is 1 to 256 visible ASCII characters (no spaces)\n')
      process.exitCode = 2
      return
    }
    process.stdout.write(sha256Hex(rest[0]) + '\n')
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
