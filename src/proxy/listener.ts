import type { Server } from 'node:http'
import { durationMs, type Config } from '../config'
import type { Logger } from '../observe'

/**
 * The `server:` settings on Node's HTTP servers. All of them are read by Node when it
 * uses them (each connection, each response, each timeout sweep), so a reload applies
 * them to the running listeners at once: no restart.
 */

/**
 * For Fastify's `http` option. Node sweeps for expired headers and request timeouts
 * every `connectionsCheckingInterval` (default 30 s: a 10 s headers timeout would cut a
 * slowloris client after up to 40 s). A sweep walks only the connections still reading
 * a request, so once a second is cheap.
 */
export const HTTP_SERVER_OPTIONS = { connectionsCheckingInterval: 1000 } as const

/**
 * Timeouts go on every listener: a slowloris client on the admin port would starve
 * kubelet's probes and Prometheus' scrapes. The connection cap is the proxy's only:
 * it is the port the world reaches, and a flood there must not lock the operator out
 * of `/metrics` and `/health/*`.
 */
export function applyServerSettings (servers: { proxy: Server, admin: Server }, settings: Config['server']): void {
  for (const server of [servers.proxy, servers.admin]) {
    server.headersTimeout = durationMs(settings.headers_timeout)
    server.requestTimeout = durationMs(settings.request_timeout)
    server.keepAliveTimeout = durationMs(settings.keep_alive_timeout)
  }
  servers.proxy.maxConnections = settings.max_connections
}

/** How often a flood of refused connections is summed up in the log. */
const DROP_REPORT_MS = 10_000

/**
 * Node closes a connection past `maxConnections` before any byte is read (no request,
 * so nothing to answer or count in `tollgate_http_requests_total`). The log says so:
 * the first at once, then one line per 10 s with the count.
 */
export function reportDroppedConnections (server: Server, log: Logger): void {
  let dropped = 0
  let timer: NodeJS.Timeout | undefined
  server.on('drop', () => {
    if (timer === undefined) {
      log.warn({ maxConnections: server.maxConnections }, 'connection refused: server.max_connections reached')
      timer = setTimeout(() => {
        if (dropped > 0) log.warn({ dropped, maxConnections: server.maxConnections, seconds: DROP_REPORT_MS / 1000 }, 'connections refused: server.max_connections reached')
        dropped = 0
        timer = undefined
      }, DROP_REPORT_MS)
      timer.unref()
      return
    }
    dropped++
  })
}
