import pino, { type DestinationStream, type Logger } from 'pino'

export type { Logger } from 'pino'

/**
 * Paths pino censors wherever they appear: whole header maps, not single headers.
 * tollgate never logs request headers on purpose; this is the net under any line that
 * would (an error carrying a request). Censoring every header means the net holds
 * whatever `api_key.header` is now or becomes on a reload, which a list of header
 * names fixed when the logger was made could not.
 */
const REDACT_PATHS = ['headers', 'req.headers', 'request.headers', 'err.headers', 'res.headers', 'raw.headers']

export function createLogger (level: string, destination?: DestinationStream): Logger {
  return pino({
    level,
    base: { service: 'tollgate' },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' }
  }, destination ?? pino.destination({ sync: false }))
}
