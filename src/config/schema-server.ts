import { Type, type Static } from '@sinclair/typebox'
import { Duration } from './duration'

/**
 * The `server:` section: how long the proxy and admin listeners wait for a client, and
 * how many connections the proxy holds. Node's defaults let a slowloris client (one
 * header byte a second) hold a socket for a minute and open as many as the process has
 * file descriptors. Kept apart from schema.ts, like the `rls` section.
 */

export const ServerSchema = Type.Object({
  /**
   * The whole request head (line and headers) must arrive within this. Node's own
   * default is 60s; a client on any real network sends its headers in well under 10s.
   */
  headers_timeout: Duration({ min: '1s', max: '10m', default: '10s' }),
  /**
   * The whole request, body included; `0s` turns it off (long uploads). Node's default:
   * an upload slower than 5 minutes gets 408. At least headers_timeout (server-validate.ts).
   */
  request_timeout: Duration({ min: '0s', max: '24h', default: '5m' }),
  /**
   * Fastify's default, kept on purpose: behind a load balancer the sidecar's idle
   * timeout must outlast the balancer's (60s on AWS ALB), or the balancer reuses a
   * connection we are closing and its client gets a 502.
   */
  keep_alive_timeout: Duration({ min: '1s', max: '1h', default: '72s' }),
  /** Proxy connections at once; past it a new connection is closed unanswered. */
  max_connections: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 10_000 })
}, { additionalProperties: false, default: {} })

export type ServerConfig = Static<typeof ServerSchema>
