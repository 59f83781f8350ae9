import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http'
import type { Readable } from 'node:stream'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { Pool } from 'undici'
import { TollgateError } from '../errors'
import { credentialHeaders, type Identity } from '../limits'
import { activeTracing, type Tracing } from '../observe'
import { ReplyWriter } from './reply-writer'
import { UpgradeClient, type UpgradeAnswer } from './upgrade-client'

/**
 * Forwarding through one undici keep-alive `Pool`, streaming both ways: the request
 * body is the client's socket stream, the response is written into the client's as it
 * arrives (reply-writer.ts). Chosen over @fastify/reply-from by measurement (bench/RESULTS.md):
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
  'te', 'trailer', 'transfer-encoding', 'upgrade', 'expect', 'host',
  // h2c's upgrade settings (RFC 7540 §3.2): meaningless once the upgrade is refused.
  'http2-settings'
])

const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_BODY_TIMEOUT'])

/** Copies headers minus hop-by-hop ones and any that `connection` names. */
function endToEnd (headers: IncomingHttpHeaders, drop?: ReadonlySet<string>, credentials: readonly string[] = []): Record<string, string | string[]> {
  const named = headers.connection
  const alsoDrop = typeof named === 'string' && named !== 'close' && named !== 'keep-alive'
    ? new Set(named.split(',').map((h) => h.trim().toLowerCase()))
    : undefined
  const out: Record<string, string | string[]> = {}
  for (const name in headers) {
    const value = headers[name]
    if (value === undefined || HOP_BY_HOP.has(name) || drop?.has(name) === true || alsoDrop?.has(name) === true || credentials.includes(name)) continue
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

/** The client's response headers, made from the app's status and end-to-end headers. */
export type ResponseHead = (statusCode: number, headers: Record<string, string | string[]>) => OutgoingHttpHeaders

export interface UpstreamResponse {
  readonly statusCode: number
  /** End-to-end headers only. */
  readonly headers: Record<string, string | string[]>
  readonly body: Readable
}

/**
 * The headers the app gets: the client's end-to-end ones, `x-forwarded-*`, and who
 * tollgate says the caller is. The same for a forwarded request and a WebSocket handshake.
 * `trustForwarded`: keep the client's own `x-forwarded-proto/host` (it is a trusted proxy).
 */
export function upstreamHeaders (request: FastifyRequest, identity: Identity | undefined, trustForwarded: boolean): Record<string, string | string[]> {
  const incoming = request.raw.headers
  // The key is tollgate's: the app learns who called from x-tollgate-client, and never
  // gets a credential it could log (nor a second one tollgate did not check).
  const keyHeader = request.tollgate?.runtime.config.api_key.header.toLowerCase() ?? ''
  // The credentials are 0 to 2 names: checked as a list, not merged into a new Set per request.
  const headers = endToEnd(incoming, OURS, credentialHeaders(incoming, keyHeader))
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
  return headers
}

/**
 * What the rules were matched on is what the app gets: the normalised target, never
 * the raw one. No target means the hook refused the request, so no forward.
 */
export function upstreamTarget (request: FastifyRequest): string {
  const target = request.tollgate?.target
  if (target === undefined) throw new TollgateError('internal_error')
  return target
}

/** The status class label of an upstream status (`2xx`, ...). */
function statusClass (statusCode: number): string {
  return STATUS_CLASS[Math.floor(statusCode / 100)] ?? '5xx'
}

/** A WebSocket handshake's outcome: switched (see UpgradeAnswer), or the app's own answer. */
export type UpgradeResult = Extract<UpgradeAnswer, { upgraded: true }> | { readonly upgraded: false, readonly response: UpstreamResponse }

export class Forwarder {
  readonly #pool: Pool
  readonly #basePath: string
  readonly #origin: URL
  readonly #onResponse: NonNullable<UpstreamOptions['onResponse']>
  readonly #upgrades: UpgradeClient

  constructor (options: UpstreamOptions) {
    const url = new URL(options.url)
    this.#basePath = url.pathname.replace(/\/$/, '')
    this.#origin = url
    this.#onResponse = options.onResponse ?? (() => {})
    this.#pool = new Pool(url.origin, {
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
      keepAliveTimeout: 4000
    })
    this.#upgrades = new UpgradeClient({
      url,
      basePath: this.#basePath,
      timeoutMs: options.timeoutMs,
      onResponse: (statusCode, seconds) => { this.#onResponse(statusCode === undefined ? 'error' : statusClass(statusCode), seconds) }
    })
  }

  /**
   * Sends the request on and writes the app's response straight into the client's
   * (reply-writer.ts); resolves once its head is written, the Fastify reply hijacked.
   * Rejects with a TollgateError (502, 504) when the app gave no response: the reply is
   * then still the caller's to answer. `head` makes the client's headers from the app's
   * end-to-end ones.
   */
  async send (request: FastifyRequest, reply: FastifyReply, identity: Identity | undefined, trustForwarded: boolean, head: ResponseHead): Promise<void> {
    const incoming = request.raw.headers
    const headers = upstreamHeaders(request, identity, trustForwarded)
    const target = upstreamTarget(request)
    const started = performance.now()
    const tracing = activeTracing()
    const traced = tracing === undefined ? undefined : this.#traceForward(tracing, request, reply, headers)
    const writer = new ReplyWriter(reply.raw, (statusCode, upstream) => {
      this.#onResponse(statusClass(statusCode), (performance.now() - started) / 1000)
      if (traced !== undefined) traced.statusCode = statusCode
      return head(statusCode, endToEnd(upstream))
    }, () => { reply.hijack() })
    this.#pool.dispatch({
      method: request.method,
      path: this.#basePath + target,
      headers,
      body: hasBody(incoming) ? request.raw : null
    }, writer)
    try {
      await writer.started
    } catch (error) {
      this.#onResponse('error', (performance.now() - started) / 1000)
      // undici names its failures by code (UND_ERR_HEADERS_TIMEOUT, ECONNREFUSED, ...).
      const code = error instanceof Error && 'code' in error && typeof error.code === 'string' ? error.code : ''
      if (traced !== undefined) traced.error = code === '' ? 'upstream error' : code
      throw new TollgateError(TIMEOUT_CODES.has(code) ? 'upstream_timeout' : 'upstream_unavailable')
    }
  }

  /**
   * Opens the `tollgate.forward` span, puts its `traceparent` in the upstream's headers
   * (in place of the client's), and ends it when the client's response closes: answered,
   * failed (502/504, status ERROR) or abandoned by the client.
   */
  #traceForward (tracing: Tracing, request: FastifyRequest, reply: FastifyReply, headers: Record<string, string | string[]>): { statusCode?: number, error?: string } {
    const { span, outgoing } = tracing.startForward(request.raw.headers, this.#origin, request.method)
    delete headers.tracestate
    Object.assign(headers, outgoing)
    const traced: { statusCode?: number, error?: string } = {}
    reply.raw.once('close', () => {
      const outcome = traced.error !== undefined ? 'error' : reply.raw.writableFinished ? 'answered' : 'client_closed'
      tracing.endForward(span, traced.statusCode, outcome, traced.error)
    })
    return traced
  }

  /** A WebSocket handshake, sent on to the app on a connection of its own (see upgrade-client.ts). */
  async upgrade (request: FastifyRequest, identity: Identity | undefined, trustForwarded: boolean): Promise<UpgradeResult> {
    const answer = await this.#upgrades.open(request, upstreamHeaders(request, identity, trustForwarded), upstreamTarget(request))
    if (answer.upgraded) return answer
    const { response } = answer
    return { upgraded: false, response: { statusCode: response.statusCode ?? 502, headers: endToEnd(response.headers), body: response } }
  }

  async close (): Promise<void> {
    this.#upgrades.close()
    await this.#pool.close()
  }
}
