import type { IncomingHttpHeaders } from 'node:http'
import { TollgateError } from '../errors'
import { ANONYMOUS } from '../config'
import { limitsFor, normaliseTarget, overriddenMethod, type Identity, type Runtime } from '../limits'
import { RequestContext } from './context'

const METHOD_OVERRIDE_REFUSED = 'X-HTTP-Method-Override, X-HTTP-Method and X-Method-Override must name one method, ' +
  'under the same route rule as the request\'s own method.'

/** The original request, as the proxy received it or as a gateway or app describes it. */
export interface OriginalRequest {
  readonly method: string
  /** The request target as sent: path and query, or absolute-form. */
  readonly target: string
  /** Where method-override headers are looked for. */
  readonly headers: IncomingHttpHeaders
  /** Who is calling; asked only when the route rule limits. */
  readonly identify: () => Identity | TollgateError
}

/** What is known about a request before the limit check, and why it stops here if it does. */
export interface Admission {
  readonly context: RequestContext
  /** Set when the request is refused before anything is spent (400, 401). */
  readonly refusal?: TollgateError
}

/**
 * Everything before the limit check, shared by the proxy and the decision API so that a
 * request is judged the same whichever way it arrives: normalise the target (400 when it
 * cannot be normalised safely), match the route rule on it, refuse method overrides that
 * would change the rule, identify the caller (401/400), refuse a banned one (403, before
 * any limit check), and choose its limits: its plan's, or its override's.
 */
export function admit (runtime: Runtime, { method, target, headers, identify }: OriginalRequest): Admission {
  const normalised = normaliseTarget(target)
  if (!normalised.ok) {
    return { context: new RequestContext(runtime, undefined, undefined), refusal: new TollgateError('invalid_path', { reason: normalised.reason }) }
  }
  // The rule is matched, and the request forwarded, on this one normalised target.
  const rule = runtime.policy.route(method, normalised.path)
  // An app that honours a method override acts on that method, one that does not on
  // the request's: both must fall under the same rule, or the rule is no limit.
  const override = overriddenMethod(headers)
  if (!override.ok || (override.method !== undefined && runtime.policy.route(override.method, normalised.path) !== rule)) {
    return { context: new RequestContext(runtime, undefined, undefined), refusal: new TollgateError('bad_request', {}, METHOD_OVERRIDE_REFUSED) }
  }
  const context = new RequestContext(runtime, rule, normalised.path + normalised.query)
  if (rule?.limit === false) return { context }
  const identity = identify()
  if (identity instanceof TollgateError) {
    context.identityRefusal = identity.code
    return { context, refusal: identity }
  }
  context.identity = identity
  const ban = runtime.controls.banOf(identity)
  if (ban !== undefined) {
    context.banned = true
    // The expiry only: the reason is the operator's note, not the client's business.
    return { context, refusal: new TollgateError('banned', { expires: ban.expires }) }
  }
  if (identity.client !== ANONYMOUS) runtime.controls.noteSpender(identity.client)
  context.limits = limitsFor(runtime, identity.client, identity.plan, rule)
  return { context }
}
