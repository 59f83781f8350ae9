import type { Decision, Identity, PlanLimits, RouteRule, Runtime } from '../limits'

/** The `decision` label of one request, as metrics and the access log see it. */
export type DecisionLabel = Decision['outcome'] | 'unauthenticated'

/**
 * What tollgate knows about one request, pinned to the runtime (config snapshot) in
 * force when it arrived. Its string form is the rate-limit key the
 * @fastify/rate-limit plugin hands to our store: the subject, never a raw API key.
 */
export class RequestContext {
  readonly runtime: Runtime
  readonly rule: RouteRule | undefined
  identity: Identity | undefined = undefined
  limits: PlanLimits | undefined = undefined
  decision: Decision | undefined = undefined
  /** Set when identification failed (no key, unknown key, malformed key). */
  unauthenticated = false

  constructor (runtime: Runtime, rule: RouteRule | undefined) {
    this.runtime = runtime
    this.rule = rule
  }

  get label (): DecisionLabel | undefined {
    return this.unauthenticated ? 'unauthenticated' : this.decision?.outcome
  }

  toString (): string {
    return this.identity?.subject ?? ''
  }
}

declare module 'fastify' {
  interface FastifyRequest {
    tollgate: RequestContext | null
  }
}
