import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import { actorOf, guardMutations, registerControlsRoutes, registerUsageRoutes } from './admin'
import { adminTokens, type ReloadResult } from './config'
import type { Runtime } from './limits'
import { metricsRenderer, registerHealthRoutes, RequestObserver, type Health, type Logger, type Metrics } from './observe'
import { TollgateError } from './errors'
import { buildDecision, buildProxy, clientErrorHandler, HTTP_SERVER_OPTIONS, refuseTunnels, type Forwarder } from './proxy'

export interface AppDeps {
  readonly log: Logger
  readonly metrics: Metrics
  readonly health: Health
  readonly version: string
  /** The runtime (config snapshot) in force; read once per request. */
  readonly currentRuntime: () => Runtime
  /** Absent without an `upstream`: the proxy listener then serves the decision API. */
  readonly forwarder?: Forwarder
  /** A decision API listener beside the proxy (`listen.decision`, with an upstream). */
  readonly decisionListener?: boolean
  /** True once shutdown began. */
  readonly draining: () => boolean
  /** Re-reads the config file (`POST /-/reload`); `who` is the admin token's name, for the audit trail. */
  readonly reload: (who: string) => Promise<ReloadResult>
  /** The text hash of the config in force, for the audit trail; `unknown` when not given. */
  readonly configHash?: () => string
}

export interface App {
  /**
   * On `listen.proxy`: the app's traffic (identify, limit, forward), or, with no
   * upstream, the decision API.
   */
  readonly proxy: FastifyInstance
  /** The decision API on `listen.decision`, beside a proxy. */
  readonly decision?: FastifyInstance
  /** Health and metrics; never reachable through the proxy port. */
  readonly admin: FastifyInstance
}

/** Whether a scraper asked for OpenMetrics (Prometheus does, first, by default). */
function wantsOpenMetrics (accept: string | undefined): boolean {
  return accept !== undefined && accept.includes('application/openmetrics-text')
}

/**
 * The admin listener: `/metrics`, `/health/*` (open), `POST /-/reload` and the
 * operator's API under `/v1/` (guarded). Counted in metrics, never logged per request
 * (a change is logged once, as its audit line).
 */
async function buildAdmin (deps: AppDeps): Promise<FastifyInstance> {
  const admin = Fastify({
    loggerInstance: deps.log as FastifyBaseLogger,
    // Probes and scrapes arrive every few seconds: a log line for each would drown the log.
    logController: new RequestObserver({
      listener: 'admin',
      metrics: deps.metrics,
      describe: (request) => ({ route: request.routeOptions.url ?? 'unmatched' })
    }),
    clientErrorHandler: clientErrorHandler({ listener: 'admin', metrics: deps.metrics, log: deps.log }),
    http: HTTP_SERVER_OPTIONS
  })
  refuseTunnels(admin, { listener: 'admin', metrics: deps.metrics, log: deps.log })
  // Before any route: every route but GET/HEAD is guarded from the moment it is added.
  guardMutations(admin, {
    tokens: () => adminTokens(deps.currentRuntime().config.admin),
    bind: deps.currentRuntime().config.listen.admin,
    log: deps.log
  })
  // Fastify's own 404 and 400 bodies have another shape than every other answer of ours.
  admin.setNotFoundHandler(async (_request, reply) => {
    const error = new TollgateError('not_found', {}, 'No such endpoint on the admin port.')
    return await reply.code(error.statusCode).send(error.body())
  })
  admin.setErrorHandler(async (error: Error & { statusCode?: number }, request, reply) => {
    const status = error.statusCode ?? 500
    const refusal = error instanceof TollgateError
      ? error
      : status < 500 ? new TollgateError('bad_request', {}, error.message) : new TollgateError('internal_error')
    if (refusal.statusCode >= 500) request.log.error({ err: error }, 'unexpected error on the admin port')
    return await reply.code(refusal.statusCode).send(refusal.body())
  })
  const render = metricsRenderer(deps.metrics.registry)
  admin.get('/metrics', async (request, reply) => {
    const { contentType, body } = await render(wantsOpenMetrics(request.headers.accept))
    return await reply.type(contentType).send(body)
  })
  registerHealthRoutes(admin, deps.health, { version: deps.version })
  // 200 with what changed (or `unchanged`), 400 with every error: the old config stays.
  admin.post('/-/reload', async (request, reply) => {
    const result = await deps.reload(actorOf(request))
    return await reply.code(result.result === 'failure' ? 400 : 200).send(result)
  })
  registerUsageRoutes(admin, deps)
  registerControlsRoutes(admin, { ...deps, configHash: deps.configHash ?? (() => 'unknown') })
  return admin
}

/** A pure factory: builds the listeners from their dependencies, touches no process state. */
export async function buildApp (deps: AppDeps): Promise<App> {
  const { forwarder } = deps
  if (forwarder === undefined) {
    const [proxy, admin] = await Promise.all([buildDecision(deps), buildAdmin(deps)])
    return { proxy, admin }
  }
  const [proxy, admin, decision] = await Promise.all([
    buildProxy({ ...deps, forwarder }),
    buildAdmin(deps),
    deps.decisionListener === true ? buildDecision(deps) : undefined
  ])
  return { proxy, admin, decision }
}
