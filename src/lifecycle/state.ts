import { isDeepStrictEqual } from 'node:util'
import type { Config, Snapshot } from '../config'
import { buildRuntime, openStores, waitForRedis, type Runtime, type StoreEvents, type Stores } from '../limits'
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

/** Stores are rebuilt only when their own settings change; plans and keys never touch them. */
function storesChange (before: Config, after: Config): boolean {
  return !isDeepStrictEqual(before.redis, after.redis) ||
    (before.on_redis_error === 'local') !== (after.on_redis_error === 'local')
}

/**
 * The state for a reloaded config. A changed Redis is connected and must answer before
 * anything is swapped (a wrong URL is a rejected reload, not an outage); otherwise the
 * running stores carry over, with what they counted.
 */
export async function buildState (config: Config, previous: Snapshot<LiveState>, deps: StateDeps): Promise<LiveState> {
  if (!storesChange(previous.config, config)) {
    return { runtime: buildRuntime(config, previous.state.stores), stores: previous.state.stores }
  }
  const stores = openStores(config, deps.log, deps.events)
  if (stores.redis !== undefined && !await waitForRedis(stores.redis, NEW_REDIS_WAIT_MS, deps.log)) {
    await stores.close()
    throw new Error(`the new redis did not answer within ${NEW_REDIS_WAIT_MS} ms; the running one stays`)
  }
  return { runtime: buildRuntime(config, stores), stores }
}

/** After a swap: the replaced stores close once requests that pinned them are done. */
export function retire (previous: LiveState, current: LiveState): void {
  if (previous.stores === current.stores) return
  setTimeout(() => { void previous.stores.close() }, RETIRE_AFTER_MS).unref()
}
