import type Redis from 'ioredis'
import type { Logger } from 'pino'
import { durationMs, type Config } from '../config'
import { BreakingStore, CircuitOpenError, type CircuitState } from './breaker'
import { createRedisClient } from './redis-client'
import { MemoryLimitStore } from './store-memory'
import { RedisLimitStore } from './store-redis'
import type { LimitStore } from './types'

/** The `kind` label of `tollgate_redis_errors_total`. */
export type StoreErrorKind = 'connection' | 'timeout' | 'circuit_open' | 'other'

/** What the stores report as it happens; metrics listen. */
export interface StoreEvents {
  /** Seconds one check took against the shared store, failed or not. */
  readonly onCheck?: (seconds: number) => void
  readonly onStoreFailure?: (kind: StoreErrorKind) => void
  readonly onRedisUp?: (up: boolean) => void
  readonly onCircuitState?: (state: CircuitState) => void
}

/** The stores one config's limiters use: they outlive config reloads. */
export interface Stores {
  /** Redis (behind a circuit breaker) when configured, else the embedded memory store. */
  readonly shared: LimitStore
  /** The per-replica store `on_redis_error: local` falls back to. */
  readonly local?: LimitStore
  /** The Redis connection, for health checks and the start-up wait. */
  readonly redis?: Redis
  readonly events: StoreEvents
  /** Closes the stores and quits Redis. */
  close(): Promise<void>
}

export function classifyStoreError (error: unknown): StoreErrorKind {
  if (error instanceof CircuitOpenError) return 'circuit_open'
  const message = error instanceof Error ? error.message : String(error)
  if (/timed out/i.test(message)) return 'timeout'
  const code = (error as { code?: unknown } | undefined)?.code
  if (/writeable|closed|ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|ENOTFOUND|EHOSTUNREACH/i.test(`${message} ${String(code)}`)) return 'connection'
  return 'other'
}

export function openStores (config: Config, log: Logger, events: StoreEvents = {}): Stores {
  if (config.redis === undefined) {
    log.warn('no redis configured: using the embedded in-memory store, correct for one replica only')
    const memory = new MemoryLimitStore()
    return { shared: memory, events, close: async () => { await memory.close() } }
  }
  const redis = createRedisClient({ url: config.redis.url, timeoutMs: durationMs(config.redis.timeout), onUp: events.onRedisUp }, log)
  const shared = new BreakingStore(new RedisLimitStore(redis), {
    onStateChange: (state) => {
      if (state !== 'half_open') log.warn({ state }, `redis circuit ${state}`)
      events.onCircuitState?.(state)
    }
  })
  const local = config.on_redis_error === 'local' ? new MemoryLimitStore() : undefined
  return {
    shared,
    local,
    redis,
    events,
    close: async () => {
      await Promise.all([shared.close(), local?.close()])
      // QUIT waits for Redis' answer; a dead Redis must not hold the exit.
      await Promise.race([redis.quit().catch(() => undefined), new Promise((resolve) => setTimeout(resolve, 1000).unref())])
      redis.disconnect()
    }
  }
}
