/**
 * Every error a client of tollgate can receive, with its HTTP status and message.
 * The README's error table is checked against this map by a test, so add a code here
 * and there together. Bodies are `{ "error": code, "message": message, ...details }`
 * and never carry a stack trace or a key.
 */
export const ERRORS = {
  api_key_required: { status: 401, message: 'An API key is required: send it in the key header or as `Authorization: Bearer <key>`.' },
  invalid_api_key: { status: 401, message: 'The API key is not known.' },
  malformed_api_key: { status: 400, message: 'The API key is malformed (at most 256 visible ASCII characters, no comma, sent once); `reason` says how.' },
  rate_limited: { status: 429, message: 'Rate limit exceeded.' },
  limiter_unavailable: { status: 503, message: 'The rate limiter cannot reach its store; try again shortly.' },
  overloaded: { status: 503, message: 'tollgate is overloaded and did not check this request; retry after the Retry-After seconds.' },
  upstream_unavailable: { status: 502, message: 'The upstream app could not be reached.' },
  upstream_timeout: { status: 504, message: 'The upstream app did not answer in time.' },
  bad_request: { status: 400, message: 'The request is malformed.' },
  payload_too_large: { status: 413, message: 'The request body is too large for this endpoint (POST /v1/check takes 4 KiB).' },
  invalid_path: { status: 400, message: 'The request path cannot be checked safely; `reason` says why.' },
  headers_too_large: { status: 431, message: 'The request line and headers are too large.' },
  request_timeout: { status: 408, message: 'The request did not arrive in time.' },
  method_not_allowed: { status: 405, message: 'CONNECT is not supported: tollgate forwards requests and opens no tunnels.' },
  admin_token_required: { status: 401, message: 'This admin endpoint needs `Authorization: Bearer <admin.token>`; the token was missing or wrong.' },
  banned: { status: 403, message: 'This client is banned until `expires`.' },
  admin_store_unavailable: { status: 503, message: 'The store of overrides, bans and the audit trail (Redis) cannot answer; nothing was changed.' },
  admin_locked: { status: 403, message: 'Mutating admin endpoints are refused here; `reason` says why and what to change.' },
  not_found: { status: 404, message: 'No such endpoint.' },
  internal_error: { status: 500, message: 'Internal error in tollgate.' }
} as const satisfies Record<string, { status: number, message: string }>

export type ErrorCode = keyof typeof ERRORS

export interface ErrorBody {
  error: ErrorCode
  message: string
  [detail: string]: unknown
}

/** What a caught value says, for a message to a person: thrown values need not be Errors. */
export function messageOf (error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}

/** An error that becomes a clear JSON response; thrown from hooks and handlers. */
export class TollgateError extends Error {
  readonly code: ErrorCode
  readonly statusCode: number
  readonly details: Record<string, unknown>

  constructor (code: ErrorCode, details: Record<string, unknown> = {}, message: string = ERRORS[code].message) {
    // An answer, not a fault: its stack is never shown or logged (a fault is logged as the
    // error that caused it). Capturing one cost 12% of a refused request's CPU in the
    // bench profile, so none is taken.
    const stackTraceLimit = Error.stackTraceLimit
    Error.stackTraceLimit = 0
    super(message)
    Error.stackTraceLimit = stackTraceLimit
    this.name = 'TollgateError'
    this.code = code
    this.statusCode = ERRORS[code].status
    this.details = details
  }

  body (): ErrorBody {
    return { error: this.code, message: this.message, ...this.details }
  }
}
