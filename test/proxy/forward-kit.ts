import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http'
import type { Readable } from 'node:stream'
import type { Test } from 'tap'
import { at } from '../helpers/at'
import { startTollgate, type Tollgate } from '../helpers/child'
import { startUpstream, type RecordedRequest, type Upstream } from '../helpers/upstream'

/*
 * Shared by the test/proxy/forward-*.test.ts files: the proxy listener's forwarding
 * contract, end to end: a real tollgate child process between a real client and a real
 * upstream, on real sockets. Each file starts its tollgate(s) once (a second or more
 * each: the child compiles the TypeScript) and shares them between its tests.
 */

export const MB = 1024 * 1024
export const KEY = { 'x-api-key': 'acme-key' }
/** How long a test waits for something that, when the feature works, takes milliseconds. */
const PROMPTLY_MS = 5000

export function configYaml (upstream: string | undefined, extra: string[] = []): string {
  return [
    'listen: { proxy: 127.0.0.1:0, admin: 127.0.0.1:0 }',
    ...(upstream === undefined ? [] : [`upstream: ${upstream}`]),
    'plans:',
    '  pro: [ { max: 100000, per: 1s } ]',
    '  anonymous: [ { max: 100000, per: 1s } ]',
    '  tiny: [ { max: 1, per: 1h } ]',
    'keys:',
    '  - { name: acme, key: acme-key, plan: pro }',
    '  - { name: tiny, key: tiny-key, plan: tiny }',
    'routes:',
    '  - { match: "/open/*", limit: false }',
    ...extra
  ].join('\n') + '\n'
}

export const HAS_CURL = spawnSync('curl', ['--version']).status === 0

export const sha256 = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex')

export const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

interface Deferred<T> {
  readonly promise: Promise<T>
  resolve(value: T): void
}

export function deferred<T = void> (): Deferred<T> {
  let resolve!: (value: T) => void
  const promise = new Promise<T>((_resolve) => { resolve = _resolve })
  return { promise, resolve }
}

/** `promise`, or a rejection naming `what` after `ms`: a broken feature fails, not hangs. */
export async function within<T> (promise: Promise<T>, what: string, ms = PROMPTLY_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: did not happen within ${ms} ms`)), ms)
  })
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}

/**
 * Extra upstream routes, set by the test that needs them. The upstream helper calls
 * `handle` before its built-in routes.
 */
type Route = (req: IncomingMessage, res: ServerResponse) => void

function customRoutes (): { routes: Map<string, Route>, handle: (req: IncomingMessage, res: ServerResponse) => boolean } {
  const routes = new Map<string, Route>()
  return {
    routes,
    handle: (req, res) => {
      const route = routes.get(at((req.url ?? '').split('?'), 0))
      if (route === undefined) return false
      route(req, res)
      return true
    }
  }
}

/** One upstream with routes a test may add, and one tollgate in front of it. */
export interface Forwarding {
  readonly up: Upstream
  readonly tg: Tollgate
  readonly routes: Map<string, Route>
}

/** Starts the upstream and the tollgate a file's tests share; `t`'s teardown stops them. */
export async function startForwarding (t: Test): Promise<Forwarding> {
  const { routes, handle } = customRoutes()
  const up = await startUpstream(t, { handle })
  const tg = await startTollgate(t, { configYaml: configYaml(up.url) })
  return { up, tg, routes }
}

export async function sha256OfStream (body: AsyncIterable<Buffer>): Promise<{ bytes: number, sha256: string }> {
  const hash = createHash('sha256')
  let bytes = 0
  for await (const chunk of body) {
    hash.update(chunk)
    bytes += chunk.length
  }
  return { bytes, sha256: hash.digest('hex') }
}

export async function bufferOf (stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of stream) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}

export const last = (up: Upstream): RecordedRequest => at(up.requests, -1)

/** The rate-limit fields of the `pro` plan's single window, as every allowed response carries them. */
export function assertRateLimitHeaders (t: Test, headers: IncomingHttpHeaders): void {
  t.equal(headers['ratelimit-policy'], '"pro-1s";q=100000;w=1')
  t.match(headers.ratelimit, /^"pro-1s";r=\d+;t=\d+$/)
  t.equal(headers['x-ratelimit-limit'], '100000')
  t.match(headers['x-ratelimit-remaining'], /^\d+$/)
  t.match(headers['x-ratelimit-reset'], /^\d+$/)
}
