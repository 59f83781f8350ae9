import { createHash } from 'node:crypto'
import { createServer } from 'node:http'
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http'
import { connect, type AddressInfo } from 'node:net'
import { pipeline } from 'node:stream'
import type { Test } from 'tap'
import { at } from './at'
import { pseudoRandomSha256, pseudoRandomStream } from './bytes'

export interface RecordedRequest {
  readonly method: string
  readonly url: string
  readonly headers: IncomingHttpHeaders
  /** Names and values as they came on the wire, with repeats and case kept. */
  readonly rawHeaders: readonly string[]
}

/** What the default route answers: the request as the upstream saw it. */
export interface EchoBody {
  method: string
  url: string
  headers: IncomingHttpHeaders
  bodyBytes: number
  bodySha256: string
}

export interface UpstreamOptions {
  /**
   * Tried before the built-in routes; return true when it handled the request.
   * Default: none.
   */
  handle?: (req: IncomingMessage, res: ServerResponse) => boolean
}

export interface Upstream {
  readonly port: number
  /** `http://127.0.0.1:PORT` */
  readonly url: string
  /** Every request received, in arrival order, recorded before its body is read. */
  readonly requests: RecordedRequest[]
  /** Stops listening and destroys open connections; later connects are refused. */
  close(): Promise<void>
}

/**
 * A real HTTP server standing in for the app behind the proxy. Routes:
 * - `/status/:code`: that status, header `x-upstream: yes`, body `{"status":code}`
 * - `/slow/:ms`: 200 `{"slow":ms}` after ms (dropped if the client goes away)
 * - `/bytes/:n`: n pseudo-random bytes (see `pseudoRandomStream`), header `x-sha256`
 * - `/headers`: two `set-cookie`, `x-custom: 1`, and the hop-by-hop `keep-alive` and
 *   `connection` that a proxy must not pass on
 * - anything else: 200 with the `EchoBody` JSON; the body is hashed as it streams in
 * Teardown closes it.
 */
export async function startUpstream (t: Test, options: UpstreamOptions = {}): Promise<Upstream> {
  const requests: RecordedRequest[] = []
  const server = createServer((req, res) => {
    requests.push({
      method: req.method ?? '',
      url: req.url ?? '',
      headers: req.headers,
      rawHeaders: req.rawHeaders
    })
    if (options.handle?.(req, res) === true) return
    route(req, res)
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', resolve)
  })
  const { port } = server.address() as AddressInfo

  let closed: Promise<void> | undefined
  const close = async (): Promise<void> => {
    closed ??= new Promise((resolve) => {
      server.close(() => resolve())
      server.closeAllConnections()
    })
    await closed
  }
  t.teardown(close)

  return { port, url: `http://127.0.0.1:${port}`, requests, close }
}

/**
 * A port with nothing listening on it, for "upstream refuses the connection". Below
 * 1024, where no test process ever listens (they all take port 0, which the kernel
 * serves from its ephemeral range, 32768 and up): a port that was merely free a
 * moment ago could be taken by a parallel test's tollgate, which then answered
 * "the dead upstream" with its own 401.
 */
export async function deadPort (): Promise<number> {
  for (let port = 1; port < 1024; port++) {
    if (await refuses(port)) return port
  }
  throw new Error('every port below 1024 accepts connections on 127.0.0.1')
}

/** True when nothing listens on `port` on 127.0.0.1. */
export async function refuses (port: number): Promise<boolean> {
  return await new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    socket.once('connect', () => { socket.destroy(); resolve(false) })
    socket.once('error', (error: NodeJS.ErrnoException) => { resolve(error.code === 'ECONNREFUSED') })
  })
}

function route (req: IncomingMessage, res: ServerResponse): void {
  const path = at((req.url ?? '/').split('?'), 0)
  const [, first, arg] = path.split('/')
  const n = Number(arg)
  if (first === 'status' && Number.isInteger(n) && n >= 200 && n <= 599) return status(req, res, n)
  if (first === 'slow' && Number.isInteger(n) && n >= 0) return slow(req, res, n)
  if (first === 'bytes' && Number.isInteger(n) && n >= 0) return bytes(req, res, n)
  if (first === 'headers' && arg === undefined) return headers(req, res)
  echo(req, res)
}

function echo (req: IncomingMessage, res: ServerResponse): void {
  const hash = createHash('sha256')
  let bodyBytes = 0
  req.on('data', (chunk: Buffer) => {
    hash.update(chunk)
    bodyBytes += chunk.length
  })
  req.on('end', () => {
    const body: EchoBody = {
      method: req.method ?? '',
      url: req.url ?? '',
      headers: req.headers,
      bodyBytes,
      bodySha256: hash.digest('hex')
    }
    json(res, 200, body)
  })
  // An aborted upload is the client's business; there is nobody left to answer.
  req.on('error', () => {})
}

function status (req: IncomingMessage, res: ServerResponse, code: number): void {
  drain(req, () => {
    res.setHeader('x-upstream', 'yes')
    // These statuses carry no body; writing one would be a protocol error.
    if (code === 204 || code === 304) {
      res.writeHead(code).end()
      return
    }
    json(res, code, { status: code })
  })
}

function slow (req: IncomingMessage, res: ServerResponse, ms: number): void {
  drain(req, () => {
    const timer = setTimeout(() => json(res, 200, { slow: ms }), ms)
    res.once('close', () => clearTimeout(timer))
  })
}

function bytes (req: IncomingMessage, res: ServerResponse, n: number): void {
  drain(req, () => {
    res.writeHead(200, {
      'content-type': 'application/octet-stream',
      'content-length': n,
      'x-sha256': pseudoRandomSha256(n)
    })
    // A client that goes away mid-body ends the pipeline with an error: expected here.
    pipeline(pseudoRandomStream(n), res, () => {})
  })
}

function headers (req: IncomingMessage, res: ServerResponse): void {
  drain(req, () => {
    res.setHeader('set-cookie', ['a=1; Path=/', 'b=2; Path=/'])
    res.setHeader('x-custom', '1')
    res.setHeader('keep-alive', 'timeout=5')
    res.setHeader('connection', 'keep-alive')
    json(res, 200, { headers: true })
  })
}

function drain (req: IncomingMessage, then: () => void): void {
  req.resume()
  req.once('end', then)
  req.on('error', () => {})
}

function json (res: ServerResponse, code: number, body: unknown): void {
  const text = JSON.stringify(body)
  res.writeHead(code, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text)
  })
  res.end(text)
}
