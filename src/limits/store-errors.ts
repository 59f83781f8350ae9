/**
 * The errors a limit check can end in, classified by class, never by message text.
 * Only a `RedisFailure` is Redis' doing: it is counted in `tollgate_redis_errors_total`,
 * moves the circuit breaker and lets `on_redis_error` decide. Anything else a store
 * throws is tollgate's own fault (a request no store can evaluate, a script reply that
 * breaks its contract): it is logged with its cause and touches neither.
 */

/** The `kind` label of `tollgate_redis_errors_total`. */
export const STORE_ERROR_KINDS = ['connection', 'timeout', 'circuit_open', 'other'] as const
export type StoreErrorKind = typeof STORE_ERROR_KINDS[number]

const CODES: Record<StoreErrorKind, string> = {
  connection: 'REDIS_CONNECTION',
  timeout: 'REDIS_TIMEOUT',
  circuit_open: 'CIRCUIT_OPEN',
  other: 'REDIS_REPLY'
}

/** Redis could not give a verdict: down, too slow, answered with an error, or not asked. */
export class RedisFailure extends Error {
  readonly kind: StoreErrorKind
  readonly code: string

  constructor (kind: StoreErrorKind, message: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause })
    this.name = 'RedisFailure'
    this.kind = kind
    this.code = CODES[kind]
  }
}

/** Redis did not answer within the timeout, while tollgate was there to read the reply. */
export class RedisTimeoutError extends RedisFailure {
  constructor (timeoutMs: number) {
    super('timeout', `redis timed out: no answer within ${timeoutMs} ms`)
    this.name = 'RedisTimeoutError'
  }
}

/** A request no store can evaluate (a `max` out of range, a negative cost): a bug or a bad config. */
export class InvalidLimitRequestError extends TypeError {
  readonly code = 'INVALID_LIMIT_REQUEST'

  constructor (message: string) {
    super(message)
    this.name = 'InvalidLimitRequestError'
  }
}

/** The limit script answered something its contract does not allow. */
export class UnexpectedReplyError extends Error {
  readonly code = 'UNEXPECTED_SCRIPT_REPLY'

  constructor (reply: unknown) {
    super(`unexpected reply from the limit script: ${JSON.stringify(reply)}`)
    this.name = 'UnexpectedReplyError'
  }
}

/** The kind of a Redis failure; undefined when the error is not Redis' (see above). */
export function classifyStoreError (error: unknown): StoreErrorKind | undefined {
  return error instanceof RedisFailure ? error.kind : undefined
}
