import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import type { Runtime } from './limits'
import { registerHealthRoutes, type Logger, type ReadinessCheck } from './observe'
import { buildProxy, type Forwarder } from './proxy'

export interface AppDeps {
  readonly log: Logger
  /** The runtime (config snapshot) in force; read once per request. */
  readonly currentRuntime: () => Runtime
  readonly forwarder?: Forwarder
  readonly readiness: () => readonly ReadinessCheck[]
}

export interface App {
  /** The app's traffic: identify, limit, forward. */
  readonly proxy: FastifyInstance
  /** Health and metrics; never reachable through the proxy port. */
  readonly admin: FastifyInstance
}

/** A pure factory: builds both listeners from their dependencies, touches no process state. */
export async function buildApp (deps: AppDeps): Promise<App> {
  const proxy = await buildProxy(deps)
  // Probes arrive every few seconds: a line for each would drown the access log.
  const admin = Fastify({ loggerInstance: deps.log as FastifyBaseLogger, logController: new LogController({ disableRequestLogging: true }) })
  registerHealthRoutes(admin, deps.readiness)
  return { proxy, admin }
}
