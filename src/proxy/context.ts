import type { ErrorCode } from '../errors'
import { ANONYMOUS, NO_PLAN, UNKNOWN_CLIENT } from '../config'
import type { Decision, Identity, PlanLimits, RouteRule, Runtime } from '../limits'
import type { RequestFacts } from '../observe'

/**
 * What tollgate knows about one request, pinned to the runtime (config snapshot) in
 * force when it arrived.
 */
export class RequestContext {
  readonly runtime: Runtime
  readonly rule: RouteRule | undefined
  /**
   * The normalised request target (path and query) that the rule was matched on and
   * that is forwarded; undefined when the target was refused (`route="malformed"`).
   */
  readonly target: string | undefined
  identity: Identity | undefined = undefined
  limits: PlanLimits | undefined = undefined
  decision: Decision | undefined = undefined
  /** Set when identification failed: no key, unknown key, malformed key. */
  identityRefusal: ErrorCode | undefined = undefined
  /** Set when the client (or its IP) is banned: refused before any limit check. */
  banned = false

  constructor (runtime: Runtime, rule: RouteRule | undefined, target: string | undefined) {
    this.runtime = runtime
    this.rule = rule
    this.target = target
  }

  /**
   * The request as metrics and the access log see it. A caller without a key is
   * `anonymous`, one whose key failed is `unknown`: never a key, never an IP.
   */
  facts (): RequestFacts {
    const route = this.rule?.label ?? (this.target === undefined ? 'malformed' : 'default')
    if (this.identityRefusal !== undefined) {
      const client = this.identityRefusal === 'api_key_required' ? ANONYMOUS : UNKNOWN_CLIENT
      return { route, decision: { client, plan: NO_PLAN, label: 'unauthenticated' } }
    }
    if (this.banned && this.identity !== undefined) return { route, decision: { client: this.identity.client, plan: this.identity.plan, label: 'banned' } }
    if (this.identity === undefined || this.decision === undefined) return { route }
    return { route, decision: { client: this.identity.client, plan: this.identity.plan, label: this.decision.outcome } }
  }
}

declare module 'fastify' {
  interface FastifyRequest {
    tollgate: RequestContext | null
  }
}
