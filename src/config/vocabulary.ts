/**
 * The config's own words, each defined once: the schema's enums are built from these
 * lists, and the rest of the code takes its types from them (limits/ re-exports what it
 * needs), so a new algorithm or mode is added in one place.
 */

/** `algorithm`, top-level and per window. */
export const ALGORITHMS = ['gcra', 'sliding', 'fixed'] as const
export type Algorithm = typeof ALGORITHMS[number]

/** `on_redis_error`: what a request gets when Redis cannot answer. */
export const REDIS_ERROR_MODES = ['allow', 'deny', 'local'] as const
export type RedisErrorMode = typeof REDIS_ERROR_MODES[number]

/** The plan of callers without a key, and their `client` name in logs and metrics. */
export const ANONYMOUS = 'anonymous'
/** The `client` of a request whose key failed: never the key itself. */
export const UNKNOWN_CLIENT = 'unknown'
/** The `plan` of a request refused before it had one (`unauthenticated`). */
export const NO_PLAN = 'none'

/** What one reload attempt came to: `result` in `POST /-/reload`'s body and in `ReloadResult`. */
export const RELOAD_RESULTS = ['success', 'unchanged', 'failure'] as const
export type ReloadOutcome = typeof RELOAD_RESULTS[number]
/** The results `tollgate_config_reloads_total` counts, and `/health/full` reports as the last reload: a file that did not change was not applied. */
export type AppliedReloadResult = Exclude<ReloadOutcome, 'unchanged'>
export const APPLIED_RELOAD_RESULTS = RELOAD_RESULTS.filter((r): r is AppliedReloadResult => r !== 'unchanged')
/** A name (plan, key, admin token) that is safe in logs, metric labels and Redis keys. */
export const NAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$'
