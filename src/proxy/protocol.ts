import { STATUS_CODES, type IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import { TollgateError, type ErrorCode } from '../errors'
import type { Listener, Logger, Metrics } from '../observe'

/**
 * Answers for what Node's HTTP server handles before Fastify sees a request: a request
 * its parser refuses (`clientError`: bad syntax, a 20 kB header, a header timeout) and
 * a `CONNECT`, which Node hands over as a raw socket. Left to the defaults, the first
 * gets Fastify's `{"error":"Bad Request"}` and the second a closed connection, and
 * neither is counted or logged: smuggling probes and scans would be invisible. Here they
 * get tollgate's JSON, one count in `tollgate_http_requests_total` with
 * `route="malformed"`, and one log line that names the parser's error code and never
 * carries the request's bytes (Node's error holds them in `rawPacket`, key included).
 */

export interface ProtocolOptions {
  readonly listener: Listener
  readonly metrics: Metrics
  readonly log: Logger
}

/** Node's parser errors that have their own status; every other one is a 400. */
const PARSER_ERRORS: Readonly<Record<string, ErrorCode>> = {
  HPE_HEADER_OVERFLOW: 'headers_too_large',
  ERR_HTTP_REQUEST_TIMEOUT: 'request_timeout'
}

/** The method label of a request whose method the parser never handed over. */
const UNPARSED = 'unknown'

function responseText (error: TollgateError, headers: Readonly<Record<string, string>> = {}): string {
  const body = JSON.stringify(error.body())
  const lines = [
    `HTTP/1.1 ${error.statusCode} ${STATUS_CODES[error.statusCode] ?? ''}`,
    'content-type: application/json; charset=utf-8',
    `content-length: ${Buffer.byteLength(body)}`,
    ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
    'connection: close'
  ]
  return `${lines.join('\r\n')}\r\n\r\n${body}`
}

/** Writes the answer, then closes: the connection's framing can no longer be trusted. */
function answerAndClose (socket: Duplex, text: string | undefined): void {
  if (text === undefined || !socket.writable) {
    socket.destroy()
    return
  }
  socket.end(text, () => { socket.destroy() })
}

/**
 * Node's own guard: when a response on this connection has already started (a
 * pipelined request went bad while an earlier one is being answered), writing a
 * status line into it would corrupt what the client reads.
 */
function midResponse (socket: Duplex): boolean {
  // `_httpMessage` is Node's in-flight ServerResponse of the socket, not in its types.
  const inFlight = (socket as unknown as { _httpMessage?: { headersSent?: boolean } | null })._httpMessage
  return inFlight?.headersSent === true
}

function remoteOf (socket: Duplex): string | undefined {
  // An HTTP server's sockets are net.Sockets; the Duplex type does not say so.
  return (socket as Duplex & { remoteAddress?: string }).remoteAddress
}

function record (options: ProtocolOptions, method: string, error: TollgateError, facts: Record<string, string | undefined>): void {
  const { listener, metrics, log } = options
  metrics.httpRequests.inc({ listener, method, route: 'malformed', status_code: error.statusCode })
  log.info({ listener, method, route: 'malformed', status: error.statusCode, error: error.code, ...facts }, 'request refused by the protocol layer')
}

/** For Fastify's `clientErrorHandler` option. */
export function clientErrorHandler (options: ProtocolOptions): (error: Error & { code?: string }, socket: Duplex) => void {
  return (error, socket) => {
    // A reset connection has nobody left to answer, and is no request.
    if (error.code === 'ECONNRESET' || socket.destroyed) return
    const refusal = new TollgateError(PARSER_ERRORS[error.code ?? ''] ?? 'bad_request')
    record(options, UNPARSED, refusal, { parseError: error.code, remote: remoteOf(socket) })
    answerAndClose(socket, midResponse(socket) ? undefined : responseText(refusal))
  }
}

/** `CONNECT` gets a 405 naming what the listener does accept, instead of a dropped socket. */
export function refuseTunnels (instance: FastifyInstance, options: ProtocolOptions): void {
  instance.server.on('connect', (_request: IncomingMessage, socket: Duplex) => {
    // The socket is ours now: without a listener, a reset would be an uncaught error.
    socket.on('error', () => {})
    const refusal = new TollgateError('method_not_allowed')
    record(options, 'CONNECT', refusal, { remote: remoteOf(socket) })
    const allow = instance.supportedMethods.filter((method) => method !== 'CONNECT').join(', ')
    answerAndClose(socket, responseText(refusal, { allow }))
  })
}
