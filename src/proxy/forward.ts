import type { IncomingHttpHeaders } from 'node:http'
import type { Readable } from 'node:stream'
import type { FastifyRequest } from 'fastify'
import { Pool } from 'undici'
import { TollgateError } from '../errors'
import { credentialHeaders, type Identity } from '../limits'

/**
 * Forwarding through one undici keep-alive `Pool`, streaming both ways: the request
 * body is the client's socket stream, the response body is undici's stream handed to
 * `reply.send`. Chosen over @fastify/reply-from by measurement (bench/RESULTS.md):
 * the bare Pool cost 11–22 µs less CPU per request in the quiet runs, never more.
 */

export interface UpstreamOptions {
  readonly url: string
  /** No response headers within this time → 504; also the idle limit between body chunks. */
  readonly timeoutMs: number
  /**
   * Told of every forwarded request once the app answered (or failed to): its status
   * class (`2xx`, ..., `error` when no response came) and the seconds it took.
   */
  readonly onResponse?: (statusClass: string, seconds: number) => void
}

const STATUS_CLASS = ['1xx', '1xx', '2xx', '3xx', '4xx', '5xx']

/** Connection-level headers (RFC 9110 §7.6.1) plus those undici refuses to send. */
const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization',
  'te', 'trailer', 'transfer-encoding', 'upgrade', 'expect', 'host'
])

const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_BODY_TIMEOUT'])

/** Copies headers minus hop-by-hop ones and any that `connection` names. */
function endToEnd (headers: IncomingHttpHeaders, drop?: ReadonlySet<string>): Record<string, string | string[]> {
  const named = headers.connection
  const alsoDrop = typeof named === 'string' && named !== 'close' && named !== 'keep-alive'
    ? new Set(named.split(',').map((h) => h.trim().toLowerCase()))
    : undefined
  const out: Record<string, string | string[]> = {}
  for (const name in headers) {
    const value = headers[name]
    if (value === undefined || HOP_BY_HOP.has(name) || drop?.has(name) === true || alsoDrop?.has(name) === true) continue
    out[name] = value
  }
  return out
}

function hasBody (headers: IncomingHttpHeaders): boolean {
  return headers['transfer-encoding'] !== undefined ||
    (headers['content-length'] !== undefined && headers['content-length'] !== '0')
}

/**
 * Headers the app must only ever get from us, and the path overrides of IIS's URL
 * rewrite (honoured by Symfony, Zend, ASP.NET): a client's own would make the app serve
 * a path that no rule was matched on.
 */
const OURS = new Set(['x-tollgate-client', 'x-tollgate-plan', 'x-original-url', 'x-rewrite-url'])

export interface UpstreamResponse {
  readonly statusCode: number
  /** End-to-end headers only. */
  readonly headers: Record<string, string | string[]>
  readonly body: Readable
}

export class Forwarder {
  readonly #pool: Pool
  readonly #basePath: string
  readonly #onResponse: NonNullable<UpstreamOptions['onResponse']>

  constructor (options: UpstreamOptions) {
    const url = new URL(options.url)
    this.#basePath = url.pathname.replace(/\/$/, '')
    this.#onResponse = options.onResponse ?? (() => {})
    this.#pool = new Pool(url.origin, {
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
      keepAliveTimeout: 4000
    })
  }

  /**
   * Sends the request on; resolves once the app's response headers arrive.
   * `trustForwarded`: keep the client's own `x-forwarded-proto/host` (it is a trusted proxy).
   */
  async forward (request: FastifyRequest, identity: Identity | undefined, trustForwarded: boolean, signal?: AbortSignal): Promise<UpstreamResponse> {
    const incoming = request.raw.headers
    // The key is tollgate's: the app learns who called from x-tollgate-client, and
    // never gets a credential it could log (nor a second one tollgate did not check).
    const keyHeader = request.tollgate?.runtime.config.api_key.header.toLowerCase() ?? ''
    const headers = endToEnd(incoming, new Set([...OURS, ...credentialHeaders(incoming, keyHeader)]))
    const remote = request.raw.socket.remoteAddress ?? ''
    const priorFor = incoming['x-forwarded-for']
    headers['x-forwarded-for'] = priorFor === undefined ? remote : `${String(priorFor)}, ${remote}`
    if (!trustForwarded || incoming['x-forwarded-proto'] === undefined) headers['x-forwarded-proto'] = 'http'
    if (!trustForwarded || incoming['x-forwarded-host'] === undefined) {
      // No Host (HTTP/1.0) leaves nothing to replace the client's value with: drop it.
      if (incoming.host === undefined) delete headers['x-forwarded-host']
      else headers['x-forwarded-host'] = incoming.host
    }
    if (identity !== undefined) {
      headers['x-tollgate-client'] = identity.client
      headers['x-tollgate-plan'] = identity.plan
    }

    // What the rules were matched on is what the app gets: the normalised target,
    // never the raw one. No target means the hook refused the request, so no forward.
    const target = request.tollgate?.target
    if (target === undefined) throw new TollgateError('internal_error')
    const started = performance.now()
    try {
      const response = await this.#pool.request({
        method: request.method as 'GET',
        path: this.#basePath + target,
        headers,
        body: hasBody(incoming) ? request.raw : null,
        signal
      })
      this.#onResponse(STATUS_CLASS[Math.floor(response.statusCode / 100)] ?? '5xx', (performance.now() - started) / 1000)
      return { statusCode: response.statusCode, headers: endToEnd(response.headers), body: response.body }
    } catch (error) {
      this.#onResponse('error', (performance.now() - started) / 1000)
      const code = (error as { code?: string }).code ?? ''
      throw new TollgateError(TIMEOUT_CODES.has(code) ? 'upstream_timeout' : 'upstream_unavailable')
    }
  }

  async close (): Promise<void> {
    await this.#pool.close()
  }
}
