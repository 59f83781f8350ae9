import { closeSync, existsSync, mkdirSync, openSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { spawnSync } from 'node:child_process'
import { startRedis, type RedisServer } from '../test/helpers/redis'
import type { BenchContext } from './context'
import { authRequestBlock, limitReqBlock, nginxInstalled, NGINX, startNginx } from './nginx'
import { REPO_ROOT, RUN_TS, waitForFileLine, waitForStdout, type Child } from './procs'
import { makeKeys, tollgateConfig, type BenchKeys } from './tollgate-config'

/**
 * The systems the rows load, each started once per run and shared by every row that
 * names it (tollgate's allowed and refused rows hit one process): the upstream, Redis,
 * tollgate on Redis and on its embedded store, the peer, nginx, the reference proxies.
 */

/** A started system under test. */
export interface Target {
  /** What the row's loader talks to: an HTTP origin, or HOST:PORT for the gRPC row. */
  url: string
  /** The processes whose CPU and RSS the row reports; none for the upstream alone. */
  proxyPids: () => number[]
  /** Checked for error lines at the end of the run. */
  logFile?: string
}

/** What every system is started against: one upstream, one redis-server, one key list. */
export interface Base {
  upstream: Child
  upstreamUrl: string
  redis: RedisServer
  keys: BenchKeys
}

/** `start` resolves with the target, or with the reason the system cannot run here. */
interface System {
  start: (ctx: BenchContext, base: Base) => Promise<Target | string>
}

export type SystemId = 'direct' | 'peer' | 'nginx' | 'tollgate' | 'tollgate-nolog' | 'tollgate-memory' | 'tollgate-traced' |
  'tollgate-decision' | 'peer-decision' | 'tollgate-grpc' | 'nginx-auth' | 'reference-undici' | 'reference-reply-from'

/** A bench/*.ts helper in its own process; resolves once it prints `LISTENING <port>`. */
async function startHelper (ctx: BenchContext, file: string, args: string[]): Promise<{ child: Child, url: string }> {
  const child = ctx.procs.start(file, process.execPath, [RUN_TS, join(REPO_ROOT, 'bench', file), ...args], {
    stdio: ['ignore', 'pipe', 'inherit']
  })
  const match = await waitForStdout(child, /LISTENING (\d+)/, 60_000)
  return { child, url: `http://127.0.0.1:${match[1] ?? ''}` }
}

export async function startTollgate (ctx: BenchContext, name: string, yaml: string, nodeFlags: string[] = [], env: NodeJS.ProcessEnv = process.env): Promise<Target & { child: Child, admin: string, grpc: string | undefined }> {
  const dir = join(ctx.tmp, name)
  mkdirSync(dir, { recursive: true })
  writeFileSync(join(dir, 'config.yml'), yaml)
  const logFile = join(dir, 'tollgate.log')
  const errFile = join(dir, 'tollgate.stderr')
  const out = openSync(logFile, 'a')
  const err = openSync(errFile, 'a')
  let child: Child
  try {
    // The access log is part of the real cost; it goes to a file, never through the bench process.
    child = ctx.procs.start(name, process.execPath, [...nodeFlags, join(REPO_ROOT, 'bin', 'tollgate.js'), '--config', join(dir, 'config.yml')], {
      cwd: dir,
      env,
      stdio: ['ignore', out, err]
    })
  } finally {
    closeSync(out)
    closeSync(err)
  }
  const match = await waitForFileLine(child, logFile, /^.*"msg":"tollgate listening".*$/m, 30_000, errFile)
  // A pino line: JSON by construction; `proxy` is checked below.
  const line = JSON.parse(match[0]) as { proxy?: unknown, admin?: unknown, grpc?: unknown }
  if (typeof line.proxy !== 'string' || typeof line.admin !== 'string') throw new Error(`the listening line has no proxy or admin URL: ${match[0]}`)
  const grpc = typeof line.grpc === 'string' ? line.grpc : undefined
  const local = (url: string): string => url.replace('://localhost', '://127.0.0.1')
  return { child, url: local(line.proxy), admin: local(line.admin), grpc, proxyPids: () => [child.pid], logFile }
}

export async function startTollgateRedis (ctx: BenchContext, base: Base, nodeFlags: string[] = []): Promise<Target & { child: Child }> {
  return await startTollgate(ctx, 'tollgate', tollgateConfig(base.upstreamUrl, base.redis.url, base.keys), nodeFlags)
}

const proxyOf = (helper: { child: Child, url: string }): Target => ({ url: helper.url, proxyPids: () => [helper.child.pid] })

export const SYSTEMS: Record<SystemId, System> = {
  direct: { start: async (_ctx, base) => ({ url: base.upstreamUrl, proxyPids: () => [] }) },
  peer: { start: async (ctx, base) => proxyOf(await startHelper(ctx, 'peer.ts', [base.upstreamUrl, base.redis.url])) },
  nginx: {
    start: async (ctx, base) => {
      if (!nginxInstalled()) return `${NGINX} is not installed (apt-get install nginx-light)`
      const nginx = await startNginx(ctx, 'nginx', (port) => limitReqBlock(port, new URL(base.upstreamUrl)))
      return { url: nginx.url, proxyPids: nginx.workers }
    }
  },
  'tollgate-decision': { start: async (ctx, base) => await startTollgate(ctx, 'tollgate-decision', tollgateConfig(undefined, base.redis.url, base.keys)) },
  'tollgate-grpc': {
    start: async (ctx, base) => {
      const tollgate = await startTollgate(ctx, 'tollgate-grpc', tollgateConfig(undefined, base.redis.url, base.keys, { grpc: true }))
      if (tollgate.grpc === undefined) throw new Error('tollgate-grpc: the listening line has no grpc address')
      return { url: tollgate.grpc, proxyPids: tollgate.proxyPids, logFile: tollgate.logFile }
    }
  },
  'peer-decision': { start: async (ctx, base) => proxyOf(await startHelper(ctx, 'peer-decision.ts', [base.redis.url])) },
  // Both processes are the gateway's cost: nginx's worker and the tollgate it asks.
  'nginx-auth': {
    start: async (ctx, base) => {
      if (!nginxInstalled()) return `${NGINX} is not installed (apt-get install nginx-light)`
      const tollgate = await startTollgate(ctx, 'tollgate-nginx', tollgateConfig(undefined, base.redis.url, base.keys, { extra: ['decision: { deny_status: 403 }'] }))
      const nginx = await startNginx(ctx, 'nginx-auth', (port) => authRequestBlock(port, new URL(base.upstreamUrl), new URL(tollgate.url)))
      return { url: nginx.url, proxyPids: () => [...nginx.workers(), tollgate.child.pid], logFile: tollgate.logFile }
    }
  },
  tollgate: { start: async (ctx, base) => await startTollgateRedis(ctx, base) },
  // What the access log costs: the same tollgate with `access_log: false`.
  'tollgate-nolog': { start: async (ctx, base) => await startTollgate(ctx, 'tollgate-nolog', tollgateConfig(base.upstreamUrl, base.redis.url, base.keys, { extra: ['access_log: false'] })) },
  // What tracing on costs: the same tollgate exporting OTLP/HTTP to a sink that answers 200.
  'tollgate-traced': {
    start: async (ctx, base) => {
      const sink = await startHelper(ctx, 'otlp-sink.ts', [])
      const env = { ...process.env, OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_ENDPOINT: sink.url }
      return await startTollgate(ctx, 'tollgate-traced', tollgateConfig(base.upstreamUrl, base.redis.url, base.keys), [], env)
    }
  },
  'tollgate-memory': { start: async (ctx, base) => await startTollgate(ctx, 'tollgate-memory', tollgateConfig(base.upstreamUrl, undefined, base.keys)) },
  'reference-undici': { start: async (ctx, base) => proxyOf(await startHelper(ctx, 'reference-undici.ts', [base.upstreamUrl])) },
  'reference-reply-from': { start: async (ctx, base) => proxyOf(await startHelper(ctx, 'reference-reply-from.ts', [base.upstreamUrl])) }
}

export async function startBase (ctx: BenchContext): Promise<Base> {
  const [upstream, redis] = await Promise.all([startHelper(ctx, 'upstream.ts', []), startRedis(ctx.procs)])
  ctx.log(`upstream ${upstream.url} (pid ${upstream.child.pid}), redis-server ${redis.url} (pid ${String(redis.pid)})`)
  return { upstream: upstream.child, upstreamUrl: upstream.url, redis, keys: makeKeys() }
}

/** Compiles tollgate as `npm run build` does: the bench measures the shipped JS. */
export function buildTollgate (ctx: BenchContext): void {
  ctx.log('building tollgate (tsc -p tsconfig.build.json, as `npm run build`)')
  const tsc = require.resolve('typescript/bin/tsc', { paths: [REPO_ROOT] })
  const result = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: REPO_ROOT, encoding: 'utf8' })
  if (result.status === 0) return
  const output = `${result.stdout}${result.stderr}`.trim().split('\n').slice(0, 10).join('\n')
  if (!existsSync(join(REPO_ROOT, 'dist', 'cli.js'))) throw new Error(`npm run build failed and left no dist/cli.js:\n${output}`)
  ctx.warn(`npm run build reported errors (tsc still emitted dist/; measuring that):\n${output}`)
}
