import { ServerResponse, type IncomingMessage } from 'node:http'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import type { UpgradeAnswer } from './upgrade-client'

/**
 * WebSocket upgrades through the limit check. Node hands an `Upgrade` request to the
 * server's `upgrade` event as a raw socket, outside Fastify; here it is routed through
 * Fastify like any request (the technique of @fastify/websocket), on a ServerResponse
 * bound to that socket. So the path normalisation, the route rule, the identity and the
 * limit all apply, and a refusal is an ordinary HTTP answer (429 JSON and all) after
 * which the socket is closed: a refused client never gets an upgraded connection.
 * Only an allowed handshake reaches the app, and only the app's own 101 switches.
 */

interface Pending {
  readonly socket: Socket
  /** Bytes the client sent after its handshake: early WebSocket frames. */
  readonly head: Buffer
}

/** Upgrade requests still being decided, by their request object. */
const pending = new WeakMap<IncomingMessage, Pending>()

export function isUpgrade (raw: IncomingMessage): boolean {
  return pending.has(raw)
}

const UPGRADE_REFUSED = 'tollgate tunnels only WebSocket upgrades (GET with Upgrade: websocket and no body); ' +
  'other upgrades, h2c included, are not supported: send the request without Upgrade'

/** Why this upgrade request cannot be tunnelled, or undefined when it can. */
export function upgradeRefusal (raw: IncomingMessage): string | undefined {
  if (!pending.has(raw)) return undefined
  const protocol = raw.headers.upgrade?.trim().toLowerCase()
  const body = raw.headers['content-length'] !== undefined || raw.headers['transfer-encoding'] !== undefined
  // Node has already taken the socket off the HTTP parser: a body could not be read as one.
  return protocol === 'websocket' && raw.method === 'GET' && !body ? undefined : UPGRADE_REFUSED
}

/** Routes each upgrade request through `proxy`'s hooks and its catch-all route. */
export function acceptUpgrades (proxy: FastifyInstance): void {
  proxy.server.on('upgrade', (raw: IncomingMessage, socket: Socket, head: Buffer) => {
    // The socket is ours now: without a listener, a reset would be an uncaught error.
    socket.on('error', () => {})
    pending.set(raw, { socket, head })
    const response = new ServerResponse(raw)
    response.assignSocket(socket)
    // An answer that is not a switch ends the connection: its HTTP parser is gone.
    response.once('finish', () => { socket.end() })
    proxy.routing(raw, response)
  })
}

/** The client's 101: the app's status line and headers, plus tollgate's rate-limit fields. */
function switchingHead (answer: Extract<UpgradeAnswer, { upgraded: true }>, extra: Iterable<readonly [string, string]>): string {
  const { response } = answer
  const lines = [`HTTP/1.1 101 ${response.statusMessage ?? 'Switching Protocols'}`]
  for (let i = 0; i + 1 < response.rawHeaders.length; i += 2) lines.push(`${response.rawHeaders[i] ?? ''}: ${response.rawHeaders[i + 1] ?? ''}`)
  for (const [name, value] of extra) lines.push(`${name}: ${value}`)
  return `${lines.join('\r\n')}\r\n\r\n`
}

/**
 * Joins the client's socket to the app's once the app switched: each side's early
 * bytes first, then both ways until either side closes, which closes the other.
 */
export function splice (raw: IncomingMessage, answer: Extract<UpgradeAnswer, { upgraded: true }>, extra: Iterable<readonly [string, string]>): void {
  const client = pending.get(raw)
  pending.delete(raw)
  // The client may have gone while the app was answering: its `close` has passed.
  if (client === undefined || client.socket.destroyed) {
    answer.socket.destroy()
    return
  }
  const app: Duplex = answer.socket
  app.on('error', () => {})
  const closeBoth = (): void => { client.socket.destroy(); app.destroy() }
  client.socket.once('close', closeBoth)
  app.once('close', closeBoth)
  client.socket.write(switchingHead(answer, extra))
  if (answer.head.length > 0) client.socket.write(answer.head)
  if (client.head.length > 0) app.write(client.head)
  client.socket.pipe(app)
  app.pipe(client.socket)
}
