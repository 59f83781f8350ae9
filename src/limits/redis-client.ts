import Redis, { Cluster, type ClusterOptions, type RedisOptions } from 'ioredis'
import type { Logger } from 'pino'
import { answerWithin } from './deadline'
import { durationMs, type RedisConfig } from '../config'

/** One server, a Sentinel-managed primary, or a Cluster: the store treats them alike. */
export type RedisConnection = Redis | Cluster

export interface RedisClientOptions {
  /** Told when the connection becomes ready (true) or is lost (false). */
  readonly onUp?: (up: boolean) => void
}

/** Longest pause between reconnect attempts to a dead Redis: limits are off until it reconnects. */
const MAX_RECONNECT_DELAY_MS = 500
/** A cluster's slot map is refreshed in this time or the refresh fails (default 1 s holds a check up). */
const SLOTS_REFRESH_TIMEOUT_MS = 1000

/**
 * `host:port` → ioredis' node form. The schema already checked the shape; IPv6 comes
 * in brackets (`[::1]:6379`).
 */
function parseNode (node: string): { host: string, port: number } {
  const at = node.lastIndexOf(':')
  return { host: node.slice(0, at).replace(/^\[(.*)\]$/, '$1'), port: Number(node.slice(at + 1)) }
}

/**
 * A demoted primary answers writes with READONLY while the connection stays up (a
 * Sentinel failover by hand, or a cluster node turned replica: ioredis #305, #439).
 * 2 = reconnect (Sentinel asks for the new primary) and resend; with no offline queue
 * the resend fails at once, so the check in hand goes by `on_redis_error` and the next
 * one reaches the new primary.
 */
function reconnectOnReadonly (error: Error): 2 | false {
  return error.message.startsWith('READONLY') ? 2 : false
}

/** What every connection shares: fail fast, never queue, reconnect soon. */
function baseOptions (config: RedisConfig): RedisOptions {
  const timeoutMs = durationMs(config.timeout)
  return {
    enableOfflineQueue: false,
    // No commandTimeout: the limit store owns the timeout (deadline.ts says why).
    connectTimeout: Math.max(1000, timeoutMs * 4),
    maxRetriesPerRequest: 0,
    retryStrategy: (attempt) => Math.min(attempt * 100, MAX_RECONNECT_DELAY_MS),
    reconnectOnError: reconnectOnReadonly,
    lazyConnect: false,
    ...(config.password === undefined ? {} : { password: config.password }),
    ...(config.tls === undefined ? {} : { tls: {} })
  }
}

function build (config: RedisConfig): RedisConnection {
  const options = baseOptions(config)
  if (config.cluster !== undefined) {
    const cluster: ClusterOptions = {
      // Both levels: the cluster's own queue holds commands while the slot map is
      // missing, the nodes' while they reconnect; either would hold a check past its
      // deadline with nothing to show for it (ioredis #1604).
      enableOfflineQueue: false,
      redisOptions: options,
      slotsRefreshTimeout: SLOTS_REFRESH_TIMEOUT_MS,
      clusterRetryStrategy: (attempt) => Math.min(attempt * 100, MAX_RECONNECT_DELAY_MS),
      // MOVED/ASK during a reshard are followed at once; the deadline bounds the whole.
      maxRedirections: 16,
      retryDelayOnFailover: 50,
      retryDelayOnClusterDown: 50,
      retryDelayOnTryAgain: 50,
      scaleReads: 'master',
      // TLS certificates name the host the nodes announce, not a resolved address.
      ...(config.tls === undefined ? {} : { dnsLookup: (address, done) => { done(null, address) } })
    }
    return new Cluster(config.cluster.map(parseNode), cluster)
  }
  if (config.sentinels !== undefined) {
    return new Redis({
      ...options,
      sentinels: config.sentinels.map(parseNode),
      name: config.name,
      role: 'master',
      // Sentinels tell of +switch-master before the old primary drops us: reconnect then.
      failoverDetector: true,
      sentinelRetryStrategy: (attempt) => Math.min(attempt * 100, MAX_RECONNECT_DELAY_MS),
      sentinelMaxConnections: 3,
      ...(config.tls === undefined ? {} : { enableTLSForSentinelMode: true, sentinelTLS: {} })
    })
  }
  if (config.url === undefined) throw new Error('redis: needs exactly one of url, sentinels or cluster')
  return new Redis(config.url, options)
}

/**
 * An ioredis client that fails fast: with no offline queue a command on a dead
 * connection is rejected at once instead of waiting for a reconnect; the store bounds
 * each check by `redis.timeout`. Reconnects forever in the background; a password
 * never reaches a log line (the logger's `err` keeps only type, message, code and stack).
 */
export function createRedisClient (config: RedisConfig, options: RedisClientOptions, log: Logger): RedisConnection {
  const client = build(config)
  if (client instanceof Redis && config.sentinels !== undefined) reconnectAfterSpuriousEnd(client, log)
  let down = false
  client.on('close', () => options.onUp?.(false))
  client.on('error', (error: Error) => {
    // ioredis emits an error for every failed reconnect; one line per outage is enough.
    if (!down) log.error({ err: error }, 'redis connection failed')
    down = true
  })
  client.on('ready', () => {
    options.onUp?.(true)
    if (down) log.info('redis connection restored')
    down = false
  })
  if (client instanceof Cluster) {
    // A cluster client stays "ready" while one node is down; its nodes say more.
    client.on('node error', (error: Error, node: string) => {
      log.warn({ err: error, node }, 'redis cluster node error')
    })
  }
  return client
}

/** Clients tollgate itself closes: their `end` is the last word. */
const closedOnPurpose = new WeakSet<RedisConnection>()

/**
 * ioredis' failover detector can end a Sentinel client for good: a `+switch-master`
 * heard while a reconnect is still asking the sentinels for the primary disconnects the
 * connector mid-connect, the connect rejects, and the client goes to `end`, where it
 * never reconnects (seen in test/limits/redis-sentinel.test.ts, about one run in three
 * under load: limits stayed off after a primary was killed). An `end` tollgate did
 * not ask for is connected again.
 */
function reconnectAfterSpuriousEnd (client: Redis, log: Logger): void {
  client.on('end', () => {
    if (closedOnPurpose.has(client)) return
    log.warn('redis sentinel client ended without tollgate closing it (ioredis, mid-failover); connecting again')
    setTimeout(() => {
      if (!closedOnPurpose.has(client) && client.status === 'end') client.connect().catch(() => {})
    }, MAX_RECONNECT_DELAY_MS).unref()
  })
}

/** Closes a client for good: QUIT, bounded (a dead Redis must not hold the exit), then the socket. */
export async function closeRedisClient (client: RedisConnection): Promise<void> {
  closedOnPurpose.add(client)
  await Promise.race([client.quit().catch(() => undefined), new Promise((resolve) => setTimeout(resolve, 1000).unref())])
  client.disconnect()
}

/** A Redis that answers within this is not worth a log line: the connect itself takes a few ms. */
const WAIT_QUIET_MS = 500
/** Then one line every few seconds while it still does not answer. */
const WAIT_LOG_EVERY_MS = 3000
/** Between PINGs: one on a connection not yet up fails at once (no offline queue), so this is what a start waits at most past Redis' answer. */
const WAIT_POLL_MS = 50
/** One PING's limit: a hung Redis (connected, silent) must not hold the wait past its deadline. */
const WAIT_PING_MS = 1000

/**
 * Resolves true once Redis answers PING, false when `deadlineMs` passes first. Logs
 * only when Redis has not answered within ~500 ms, then every few seconds.
 */
export async function waitForRedis (client: RedisConnection, deadlineMs: number, log: Logger): Promise<boolean> {
  const started = Date.now()
  let logAt = started + WAIT_QUIET_MS
  while (Date.now() - started < deadlineMs) {
    try {
      await answerWithin(client.ping(), Math.min(WAIT_PING_MS, Math.max(1, deadlineMs - (Date.now() - started))))
      return true
    } catch {
      if (Date.now() >= logAt) {
        log.warn({ waitedMs: Date.now() - started, deadlineMs }, 'waiting for redis')
        logAt = Date.now() + WAIT_LOG_EVERY_MS
      }
      await new Promise((resolve) => setTimeout(resolve, WAIT_POLL_MS))
    }
  }
  return false
}
