import { request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http'
import { request as httpsRequest } from 'node:https'
import type { Socket } from 'node:net'
import type { FastifyRequest } from 'fastify'
import { TollgateError } from '../errors'

/**
 * The app's side of a WebSocket handshake. Not through the undici pool: an upgraded
 * connection leaves the pool for good, and undici's `upgrade` rejects any answer but
 * 101, while the app's own refusal (401, 403, 426) must reach the client as the app
 * wrote it. So node:http, one connection per handshake.
 */

export type UpgradeAnswer =
  /** The app switched protocols: its 101, the raw connection, and bytes it sent early. */
  | { readonly upgraded: true, readonly response: IncomingMessage, readonly socket: Socket, readonly head: Buffer }
  /** The app answered without switching: relayed as is. */
  | { readonly upgraded: false, readonly response: IncomingMessage }

export interface UpgradeClientOptions {
  readonly url: URL
  readonly basePath: string
  /** No answer to the handshake within this → 504. */
  readonly timeoutMs: number
  /** The app's status (undefined when it never answered) and the seconds it took. */
  readonly onResponse: (statusCode: number | undefined, seconds: number) => void
}

export class UpgradeClient {
  readonly #options: UpgradeClientOptions
  /** Handshakes and tunnels open to the app, destroyed by `close()`. */
  readonly #open = new Set<ClientRequest | Socket>()

  constructor (options: UpgradeClientOptions) {
    this.#options = options
  }

  async open (request: FastifyRequest, headers: Record<string, string | string[]>, target: string): Promise<UpgradeAnswer> {
    const { url, basePath, timeoutMs, onResponse } = this.#options
    const protocol = request.raw.headers.upgrade ?? 'websocket'
    const started = performance.now()
    const seconds = (): number => (performance.now() - started) / 1000
    return await new Promise((resolve, reject) => {
      const send = url.protocol === 'https:' ? httpsRequest : httpRequest
      const outgoing = send({
        // `URL.hostname` keeps an IPv6 literal's brackets, which node:http cannot resolve.
        host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
        port: url.port,
        method: 'GET',
        path: basePath + target,
        headers: { ...headers, connection: 'upgrade', upgrade: protocol },
        timeout: timeoutMs,
        agent: false
      })
      this.#open.add(outgoing)
      const fail = (code: 'upstream_timeout' | 'upstream_unavailable'): void => {
        this.#open.delete(outgoing)
        onResponse(undefined, seconds())
        reject(new TollgateError(code))
      }
      outgoing.once('timeout', () => { outgoing.destroy(); fail('upstream_timeout') })
      outgoing.once('error', () => { fail('upstream_unavailable') })
      outgoing.once('response', (response) => {
        this.#open.delete(outgoing)
        onResponse(response.statusCode, seconds())
        resolve({ upgraded: false, response })
      })
      outgoing.once('upgrade', (response, socket: Socket, head: Buffer) => {
        this.#open.delete(outgoing)
        onResponse(response.statusCode, seconds())
        // The handshake timeout is no idle limit for the tunnel: a quiet WebSocket is normal.
        socket.setTimeout(0)
        this.#open.add(socket)
        socket.once('close', () => this.#open.delete(socket))
        resolve({ upgraded: true, response, socket, head })
      })
      outgoing.end()
    })
  }

  /** Destroys every handshake and tunnel still open to the app. */
  close (): void {
    for (const open of this.#open) open.destroy()
    this.#open.clear()
  }
}
