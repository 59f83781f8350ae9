import pino, { type DestinationStream, type Logger } from 'pino'

export type { Logger } from 'pino'

/**
 * Paths pino censors wherever they appear. tollgate never logs request headers on
 * purpose; this is the net under any line that would (an error carrying a request).
 */
export function redactPaths (apiKeyHeader: string): string[] {
  const header = apiKeyHeader.toLowerCase()
  return ['authorization', 'cookie', header].flatMap((name) => [
    `req.headers["${name}"]`, `headers["${name}"]`, `request.headers["${name}"]`
  ])
}

export function createLogger (level: string, apiKeyHeader: string, destination?: DestinationStream): Logger {
  return pino({
    level,
    base: { service: 'tollgate' },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: redactPaths(apiKeyHeader), censor: '[redacted]' }
  }, destination ?? pino.destination({ sync: false }))
}
