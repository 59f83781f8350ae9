import type { Logger } from 'pino'
import { durationMs, type Config } from '../config'
import { BreakingStore, type CircuitState } from './breaker'
import { Controls } from './controls'
import { MemoryControls } from './controls-memory'
import { RedisControls } from './controls-redis'
import { answerWithin } from './deadline'
import { closeRedisClient, createRedisClient, type RedisConnection } from './redis-client'
import { describeRedis, type RedisTopology } from './redis-topology'
import type { StoreErrorKind } from './store-errors'
import { MemoryLimitStore } from './store-memory'
import { RedisLimitStore } from './store-redis'
import type { LimitStore } from './types'

export { classifyStoreError, type StoreErrorKind } from './store-errors'

/** What the stores report as it happens; metrics listen. */
export interface StoreEvents {
  /** Seconds one check took against the shared store, failed or not. */
  readonly onCheck?: (seconds: number) => void
  readonly onStoreFailure?: (kind: StoreErrorKind) => void
  readonly onRedisUp?: (up: boolean) => void
  readonly onCircuitState?: (state: CircuitState) => void
  /** A check failed for a reason that is not Redis' (see store-errors.ts). */
  readonly onInternalError?: (error: unknown, subject: string) => void
}

/** The stores one config's limiters use: they outlive config reloads. */
export interface Stores {
  /** Redis (behind a circuit breaker) when configured, else the embedded memory store. */
  readonly shared: LimitStore
  /** The per-replica store `on_redis_error: local` falls back to. */
  readonly local?: LimitStore
  /** The Redis connection, for health checks and the start-up wait. */
  readonly redis?: RedisConnection
  /**
   * PING with the same timeout as a limit check, and the same meaning: Redis did not
   * answer, not that tollgate was too busy to read the reply (deadline.ts).
   */
  readonly redisHealth?: { ping: () => Promise<RedisTopology> }
  readonly events: StoreEvents
  /** Overrides, bans, the audit trail: in the same Redis as the counts, or in memory with them. */
  readonly controls: Controls
  /** Closes the stores and quits Redis. */
  close(): Promise<void>
}

export function openStores (config: Config, log: Logger, metricEvents: StoreEvents = {}): Stores {
  // Never silent: a check that fails inside tollgate is logged with its cause, or it
  // would look like nothing at all (it is not a Redis error, so no metric counts it).
  const events: StoreEvents = {
    ...metricEvents,
    onInternalError: (error, subject) => {
      log.error({ err: error, subject }, 'rate-limit check failed inside tollgate (not a Redis error)')
      metricEvents.onInternalError?.(error, subject)
    }
  }
  if (config.redis === undefined) {
    log.warn('no redis configured: using the embedded in-memory store, correct for one replica only')
    const memory = new MemoryLimitStore()
    const controls = new Controls(new MemoryControls(), { log, shared: false })
    return { shared: memory, events, controls, close: async () => { controls.close(); await memory.close() } }
  }
  const timeoutMs = durationMs(config.redis.timeout)
  const redis = createRedisClient(config.redis, { onUp: events.onRedisUp }, log)
  const shared = new BreakingStore(new RedisLimitStore(redis, { timeoutMs }), {
    onStateChange: (state) => {
      if (state !== 'half_open') log.warn({ state }, `redis circuit ${state}`)
      events.onCircuitState?.(state)
    }
  })
  const controls = new Controls(new RedisControls(redis, { timeoutMs }), { log, shared: true })
  redis.on('ready', () => {
    shared.probeSoon()
    void controls.refresh()
  })
  const local = config.on_redis_error === 'local' ? new MemoryLimitStore() : undefined
  return {
    shared,
    local,
    redis,
    redisHealth: { ping: async () => await answerWithin(describeRedis(redis), timeoutMs) },
    events,
    controls,
    close: async () => {
      controls.close()
      await Promise.all([shared.close(), local?.close()])
      await closeRedisClient(redis)
    }
  }
}
