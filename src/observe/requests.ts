import { LogController, type FastifyReply, type FastifyRequest } from 'fastify'
import type { Logger } from 'pino'
import type { Metrics } from './metrics'

/** What a listener knows about one finished request; every value is a bounded label. */
export interface RequestFacts {
  /** The matched route rule (`POST /v1/upload/*`), `default`, or an admin route. */
  readonly route: string
  /** Set when a rate-limit decision was made (or identification failed). */
  readonly decision?: {
    readonly client: string
    readonly plan: string
    readonly label: string
  }
}

/** The HTTP listeners, as the `listener` label of the request metrics names them. */
export type Listener = 'proxy' | 'admin' | 'decision'

export interface RequestObserverOptions {
  readonly listener: Listener
  readonly metrics: Metrics
  readonly describe: (request: FastifyRequest) => RequestFacts
  /** Writes one access-log line per request when given. */
  readonly log?: Logger
  /**
   * `access_log` in force: every line (`true`), none (`false`), or that share of them
   * (`0.01`). Read per request, so a reload applies at once. A 5xx is always logged: a
   * sample is for the traffic, never for the failures. Default: every line.
   */
  readonly accessLog?: () => boolean | number
}

/** Whether this answer's access-log line is written under `access_log`. */
function sampled (setting: boolean | number, status: number): boolean {
  if (status >= 500 || setting === true) return true
  if (setting === false) return false
  return Math.random() < setting
}

/**
 * Fastify calls this when a response has ended: the one place a request is counted,
 * timed and logged. It replaces Fastify's own two log lines per request with one line
 * that says who called (client name and plan, never the key), what tollgate decided
 * and how it ended. The path is logged without its query string, which may carry
 * secrets of the app.
 */
export class RequestObserver extends LogController {
  readonly #options: RequestObserverOptions

  constructor (options: RequestObserverOptions) {
    super({ disableRequestLogging: true })
    this.#options = options
  }

  override requestCompleted (error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    const { listener, metrics, describe, log, accessLog } = this.#options
    const facts = describe(request)
    const status = reply.statusCode
    const labels = { listener, method: request.method, route: facts.route, status_code: status }
    metrics.httpRequests.inc(labels)
    metrics.httpDuration.observe(labels, reply.elapsedTime / 1000)
    const decision = facts.decision
    if (decision !== undefined) metrics.decisions.inc({ client: decision.client, plan: decision.plan, decision: decision.label })
    if (log === undefined || !sampled(accessLog?.() ?? true, status)) return
    const url = request.url
    const query = url.indexOf('?')
    log.info({
      reqId: request.id,
      method: request.method,
      path: query === -1 ? url : url.slice(0, query),
      route: facts.route,
      client: decision?.client,
      plan: decision?.plan,
      decision: decision?.label,
      status,
      ms: Math.round(reply.elapsedTime * 100) / 100,
      ...(error == null ? {} : { err: error })
    }, 'request')
  }
}
