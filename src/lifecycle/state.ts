import { isDeepStrictEqual } from 'node:util'
import type { Config, Snapshot } from '../config'
import { buildRuntime, openStores, waitForRedis, type Runtime, type StoreEvents, type Stores } from '../limits'
import { MemoryLimitStore } from '../limits/store-memory'
import type { Logger } from '../observe'

/** What one config snapshot runs on: the limiter runtime and the stores under it. */
export interface LiveState {
  readonly runtime: Runtime
  readonly stores: Stores
}

export interface StateDeps {
  readonly log: Logger
  readonly events: StoreEvents
}

/** How long a reload waits for a new Redis to answer before rejecting the new config. */
const NEW_REDIS_WAIT_MS = 5000
/** How long replaced stores stay open for requests that pinned the old snapshot. */
const RETIRE_AFTER_MS = 5000

/**
 * The running stores with the per-replica fallback of `on_redis_error: local` added or
 * dropped. The Redis connection and the shared counts carry over: switching to `local`
 * is what an operator does during a Redis outage, so it must not need Redis to answer.
 */
function withLocal (running: Stores, wanted: boolean): Stores {
  const local = wanted ? new MemoryLimitStore() : undefined
  return { ...running, local, close: async () => { await Promise.all([running.close(), local?.close()]) } }
}

/**
 * The state for a reloaded config. A changed Redis is connected and must answer before
 * anything is swapped (a wrong URL is a rejected reload, not an outage); otherwise the
 * running stores carry over, with what they counted.
 */
export async function buildState (config: Config, previous: Snapshot<LiveState>, deps: StateDeps): Promise<LiveState> {
  const running = previous.state.stores
  if (isDeepStrictEqual(previous.config.redis, config.redis)) {
    const local = config.on_redis_error === 'local'
    const stores = local === (previous.config.on_redis_error === 'local') ? running : withLocal(running, local)
    return { runtime: buildRuntime(config, stores), stores }
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
  return { runtime: buildRuntime(config, stores), stores }
}

/** After a swap: the replaced stores close once requests that pinned them are done. */
export function retire (previous: LiveState, current: LiveState): void {
  if (previous.stores === current.stores) return
  if (previous.stores.shared === current.stores.shared) {
    // Only the fallback changed (withLocal): the shared store and its Redis carry on.
    const dropped = previous.stores.local
    if (dropped !== undefined && dropped !== current.stores.local) setTimeout(() => { void dropped.close() }, RETIRE_AFTER_MS).unref()
    return
  }
  // The retired client reports its own close as "Redis down"; this listener runs after
  // that one and puts back the state of the client in force.
  previous.stores.redis?.on('close', () => { current.stores.events.onRedisUp?.(current.stores.redis?.status === 'ready') })
  setTimeout(() => { void previous.stores.close() }, RETIRE_AFTER_MS).unref()
}
