import { LogController, type FastifyReply, type FastifyRequest } from 'fastify'
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

/**
 * One access-log line per request, in place of Fastify's two default lines. The
 * listener says what it knows about the request (`describe`: for the proxy, the
 * client name and plan, never the key, and the decision); the path is logged
 * without its query string, which may carry secrets of the app.
 */
export class AccessLog extends LogController {
  readonly #log: Logger
  readonly #describe: (request: FastifyRequest) => Record<string, unknown>

  constructor (log: Logger, describe: (request: FastifyRequest) => Record<string, unknown>) {
    super({ disableRequestLogging: true })
    this.#log = log
    this.#describe = describe
  }

  override requestCompleted (error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    const url = request.url
    const query = url.indexOf('?')
    this.#log.info({
      reqId: request.id,
      method: request.method,
      path: query === -1 ? url : url.slice(0, query),
      ...this.#describe(request),
      status: reply.statusCode,
      ms: Math.round(reply.elapsedTime * 100) / 100,
      ...(error == null ? {} : { err: error.message })
    }, 'request')
  }
}
