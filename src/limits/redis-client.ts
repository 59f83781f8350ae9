import Redis from 'ioredis'
import type { Logger } from 'pino'

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

/** Resolves true once Redis answers PING, false when `deadlineMs` passes first. */
export async function waitForRedis (client: Redis, deadlineMs: number, log: Logger): Promise<boolean> {
  const until = Date.now() + deadlineMs
  let attempt = 0
  while (Date.now() < until) {
    try {
      await client.ping()
      return true
    } catch {
      attempt++
      if (attempt % 10 === 1) log.warn({ waitedMs: deadlineMs - (until - Date.now()) }, 'waiting for redis before opening the proxy port')
      await new Promise((resolve) => setTimeout(resolve, 200))
    }
  }
  return false
}
