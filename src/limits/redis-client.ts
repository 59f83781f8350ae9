import Redis from 'ioredis'
import type { Logger } from 'pino'
import { answerWithin } from './deadline'

export interface RedisClientOptions {
  readonly url: string
  /** Per-command timeout: past it the decision is unknown and `on_redis_error` decides. */
  readonly timeoutMs: number
  /** Told when the connection becomes ready (true) or is lost (false). */
  readonly onUp?: (up: boolean) => void
}

/** Longest pause between reconnect attempts to a dead Redis: limits are off until it reconnects. */
const MAX_RECONNECT_DELAY_MS = 500

/**
 * An ioredis client that fails fast: with no offline queue a command on a dead
 * connection is rejected at once instead of waiting for a reconnect, and a command
 * that Redis does not answer within `timeoutMs` is rejected. Reconnects forever in
 * the background; the password in the URL never reaches a log line.
 */
export function createRedisClient (options: RedisClientOptions, log: Logger): Redis {
  const client = new Redis(options.url, {
    enableOfflineQueue: false,
    // No commandTimeout: the limit store owns the timeout (deadline.ts says why).
    connectTimeout: Math.max(1000, options.timeoutMs * 4),
    maxRetriesPerRequest: 0,
    retryStrategy: (attempt) => Math.min(attempt * 100, MAX_RECONNECT_DELAY_MS),
    lazyConnect: false
  })
  let down = false
  client.on('close', () => options.onUp?.(false))
  client.on('error', (error: Error) => {
    // ioredis emits an error for every failed reconnect; one line per outage is enough.
    if (!down) log.error({ err: { message: error.message, code: (error as NodeJS.ErrnoException).code } }, 'redis connection failed')
    down = true
  })
  client.on('ready', () => {
    options.onUp?.(true)
    if (down) log.info('redis connection restored')
    down = false
  })
  return client
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
export async function waitForRedis (client: Redis, deadlineMs: number, log: Logger): Promise<boolean> {
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
