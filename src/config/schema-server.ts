import { Type, type Static } from '@sinclair/typebox'

/**
 * The `server:` section: how long the proxy and admin listeners wait for a client, and
 * how many connections the proxy holds. Node's defaults let a slowloris client (one
 * header byte a second) hold a socket for a minute and open as many as the process has
 * file descriptors. Kept apart from schema.ts, like the `rls` section.
 */

/** Each duration's bounds, named in the error when a value is outside them. */
export const SERVER_DURATION_BOUNDS = {
  /** The whole request head (line and headers) must arrive within this. */
  headers_timeout: { min: '1s', max: '10m' },
  /** The whole request, body included; `0s` turns it off (long uploads). */
  request_timeout: { min: '0s', max: '24h' },
  /** An idle keep-alive connection is closed after this. */
  keep_alive_timeout: { min: '1s', max: '1h' }
} as const

export const MAX_CONNECTIONS_BOUNDS = { min: 1, max: 1_000_000 } as const

// The duration format is registered by validate.ts; the bounds are checked there too
// (server-validate.ts), since a JSON schema cannot compare two durations.
const Duration = (defaultValue: string): ReturnType<typeof Type.String> => Type.String({ format: 'duration', default: defaultValue })

export const ServerSchema = Type.Object({
  /** Node's own default is 60s; a client on any real network sends its headers in well under 10s. */
  headers_timeout: Duration('10s'),
  /** Node's default: an upload slower than 5 minutes gets 408. */
  request_timeout: Duration('5m'),
  /**
   * Fastify's default, kept on purpose: behind a load balancer the sidecar's idle
   * timeout must outlast the balancer's (60s on AWS ALB), or the balancer reuses a
   * connection we are closing and its client gets a 502.
   */
  keep_alive_timeout: Duration('72s'),
  /** Proxy connections at once; past it a new connection is closed unanswered. */
  max_connections: Type.Integer({ minimum: MAX_CONNECTIONS_BOUNDS.min, maximum: MAX_CONNECTIONS_BOUNDS.max, default: 10_000 })
}, { additionalProperties: false, default: {} })

export type ServerConfig = Static<typeof ServerSchema>
