import { isDeepStrictEqual } from 'node:util'
import type { Logger } from 'pino'
import type { Config } from '../config'
import { waitForRedis } from './redis-client'
import { buildRuntime, type Runtime } from './runtime'
import { MemoryLimitStore } from './store-memory'
import { openStores, type StoreEvents, type Stores } from './stores'

export interface StateDeps {
  readonly log: Logger
  readonly events: StoreEvents
}

/**
 * How long the start waits for Redis to answer (admin port open, proxy port not yet)
 * before opening the proxy port anyway.
 */
export const REDIS_START_WAIT_MS = 10_000
/** How long a reload waits for a new Redis to answer before rejecting the new config. */
const NEW_REDIS_WAIT_MS = 5000
/** How long replaced stores stay open for requests that pinned the old snapshot. */
const RETIRE_AFTER_MS = 5000

/**
 * What one config snapshot limits with: the limiter runtime and the stores under it.
 * Built by `LimitState.build` only, at start and on every reload; the stores stay
 * behind this surface.
 */
export class LimitState {
  readonly runtime: Runtime
  readonly #stores: Stores

  private constructor (config: Config, stores: Stores) {
    this.runtime = buildRuntime(config, stores)
    this.#stores = stores
  }

  /**
   * The state for a config. At start (no `previous`) the stores open and Redis is not
   * waited for: the start waits later, with the admin port open (`waitForRedis`). On a
   * reload a changed Redis is connected and must answer before anything is swapped (a
   * wrong URL is a rejected reload, not an outage); otherwise the running stores carry
   * over, with what they counted.
   */
  static async build (config: Config, deps: StateDeps, previous?: { readonly config: Config, readonly state: LimitState }): Promise<LimitState> {
    if (previous === undefined) return new LimitState(config, openStores(config, deps.log, deps.events))
    const running = previous.state.#stores
    if (isDeepStrictEqual(previous.config.redis, config.redis)) {
      const local = config.on_redis_error === 'local'
      return new LimitState(config, local === (previous.config.on_redis_error === 'local') ? running : withLocal(running, local))
    }
    // The gauges (redis up, circuit state) are the running stores' until the swap: a new
    // client failing to connect for its 5 s must not report the running Redis down.
    let trial = true
    const events: StoreEvents = {
      ...deps.events,
      onRedisUp: (up) => { if (!trial) deps.events.onRedisUp?.(up) },
      onCircuitState: (state) => { if (!trial) deps.events.onCircuitState?.(state) }
    }
    const stores = openStores(config, deps.log, events)
    if (stores.redis !== undefined && !await waitForRedis(stores.redis, NEW_REDIS_WAIT_MS, deps.log)) {
      await stores.close()
      throw new Error(`the new redis did not answer within ${NEW_REDIS_WAIT_MS} ms; the running one stays`)
    }
    trial = false
    deps.events.onRedisUp?.(stores.redis?.status === 'ready')
    deps.events.onCircuitState?.('closed')
    return new LimitState(config, stores)
  }

  /** Whether this state limits through Redis (else the embedded memory store). */
  get usesRedis (): boolean {
    return this.#stores.redis !== undefined
  }

  /** PING with the limit checks' timeout, for `/health/full`; undefined on the embedded store. */
  get redisHealth (): Stores['redisHealth'] {
    return this.#stores.redisHealth
  }

  /** Calls `fn` the first time this state's Redis connection is ready. */
  onceRedisReady (fn: () => void): void {
    this.#stores.redis?.once('ready', fn)
  }

  /** The start's wait: true once Redis answers PING (at once on the embedded store), false after `REDIS_START_WAIT_MS`. */
  async waitForRedis (log: Logger): Promise<boolean> {
    const { redis } = this.#stores
    return redis === undefined || await waitForRedis(redis, REDIS_START_WAIT_MS, log)
  }

  /** After a swap to this state: the replaced stores close once requests that pinned them are done. */
  retire (previous: LimitState): void {
    const old = previous.#stores
    const current = this.#stores
    if (old === current) return
    if (old.shared === current.shared) {
      // Only the fallback changed (withLocal): the shared store and its Redis carry on.
      const dropped = old.local
      if (dropped !== undefined && dropped !== current.local) setTimeout(() => { void dropped.close() }, RETIRE_AFTER_MS).unref()
      return
    }
    // The retired client reports its own close as "Redis down"; this listener runs after
    // that one and puts back the state of the client in force.
    old.redis?.on('close', () => { current.events.onRedisUp?.(current.redis?.status === 'ready') })
    setTimeout(() => { void old.close() }, RETIRE_AFTER_MS).unref()
  }

  /** Closes the stores and quits Redis. */
  async close (): Promise<void> {
    await this.#stores.close()
  }
}

/**
 * The running stores with the per-replica fallback of `on_redis_error: local` added or
 * dropped. The Redis connection and the shared counts carry over: switching to `local`
 * is what an operator does during a Redis outage, so it must not need Redis to answer.
 */
function withLocal (running: Stores, wanted: boolean): Stores {
  const local = wanted ? new MemoryLimitStore() : undefined
  return { ...running, local, close: async () => { await Promise.all([running.close(), local?.close()]) } }
}
