import pino, { type DestinationStream, type Logger } from 'pino'

export type { Logger } from 'pino'

/**
 * Paths pino censors wherever they appear: whole header maps, not single headers.
 * tollgate never logs request headers on purpose; this is the net under any line that
 * would (an error carrying a request). Censoring every header means the net holds
 * whatever `api_key.header` is now or becomes on a reload, which a list of header
 * names fixed when the logger was made could not.
 */
/**
 * Every Error a line carries as `err`, in one shape: pino's own serializer, then only
 * `type`, `message`, `code` and `stack`. An error's other properties are dropped because
 * they can hold what must never be logged: ioredis puts the failed command and its
 * arguments on a reply error (an `AUTH` carries the password), an HTTP error its
 * request. A thrown value that is not an object is logged as its text; an object that
 * is not an Error goes through as it is, under the redaction below.
 */
function serializeError (value: unknown): unknown {
  if (!(value instanceof Error)) return typeof value === 'object' && value !== null ? value : { message: String(value) }
  const { type, message, stack } = pino.stdSerializers.err(value)
  const code: unknown = 'code' in value ? value.code : undefined
  return code === undefined ? { type, message, stack } : { type, message, code, stack }
}

const REDACT_PATHS = ['headers', 'req.headers', 'request.headers', 'err.headers', 'res.headers', 'raw.headers']

export function createLogger (level: string, destination?: DestinationStream): Logger {
  return pino({
    level,
    base: { service: 'tollgate' },
    timestamp: pino.stdTimeFunctions.isoTime,
    serializers: { err: serializeError },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' }
  }, destination ?? pino.destination({ sync: false }))
}
