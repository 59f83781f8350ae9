import rateLimit from '@fastify/rate-limit'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { TollgateError } from '../errors'
import { normaliseTarget, overriddenMethod, OVERLOADED_RETRY_SECONDS, type Runtime } from '../limits'
import { RequestContext } from './context'
import { upgradeRefusal } from './upgrade'

/**
 * Identity and limits on the proxy instance, in this order on every request:
 * 1. our `onRequest` hook pins the runtime, normalises the path (400 when it cannot be
 *    normalised safely), matches the route rule on it and identifies the caller
 *    (401/400 here, before anything is spent);
 * 2. @fastify/rate-limit's own `onRequest` hook asks `DecisionStore`, which runs the
 *    whole multi-window check in one store call and keeps the full decision on the
 *    request context; the plugin's refusal path then throws our 429.
 * The plugin only sees one window and no cost, so it is told `max: 1` and a refused
 * decision is reported as `current: 2`; the real numbers go out in our headers.
 */

/** The store contract of @fastify/rate-limit, fed by our limiter. */
class DecisionStore {
  incr (key: unknown, callback: (error: Error | null, result?: { current: number, ttl: number }) => void): void {
    const context = key as RequestContext
    const { identity, limits, runtime, rule } = context
    if (identity === undefined || limits === undefined) {
      callback(null, { current: 0, ttl: 0 })
      return
    }
    runtime.limiter.decide(identity.subject, limits, rule?.cost ?? 1).then((decision) => {
      context.decision = decision
      callback(null, { current: decision.refusal === undefined ? 0 : 2, ttl: (decision.binding?.resetSeconds ?? 0) * 1000 })
    }, callback)
  }

  child (): this {
    return this
  }
}

const METHOD_OVERRIDE_REFUSED = 'X-HTTP-Method-Override, X-HTTP-Method and X-Method-Override must name one method, ' +
  'under the same route rule as the request\'s own method.'

const NO_HEADERS = { 'x-ratelimit-limit': false, 'x-ratelimit-remaining': false, 'x-ratelimit-reset': false, 'retry-after': false }

export async function registerEnforcement (proxy: FastifyInstance, currentRuntime: () => Runtime): Promise<void> {
  proxy.decorateRequest('tollgate', null)

  proxy.addHook('onRequest', (request, reply, done) => {
    const runtime = currentRuntime()
    // `OPTIONS *` asks about the server, not a resource: there is no path to limit or to
    // forward (undici sends only paths), so tollgate answers it.
    if (request.method === 'OPTIONS' && request.url === '*') {
      request.tollgate = new RequestContext(runtime, undefined, '*')
      reply.code(200).header('content-length', 0).send()
      return
    }
    const notTunnelled = upgradeRefusal(request.raw)
    if (notTunnelled !== undefined) {
      request.tollgate = new RequestContext(runtime, undefined, undefined)
      done(new TollgateError('bad_request', {}, notTunnelled))
      return
    }
    const target = normaliseTarget(request.url)
    if (!target.ok) {
      request.tollgate = new RequestContext(runtime, undefined, undefined)
      done(new TollgateError('invalid_path', { reason: target.reason }))
      return
    }
    // The rule is matched, and the request forwarded, on this one normalised target.
    const rule = runtime.policy.route(request.method, target.path)
    // An app that honours a method override acts on that method, one that does not on
    // the request's: both must fall under the same rule, or the rule is no limit.
    const override = overriddenMethod(request.headers)
    if (!override.ok || (override.method !== undefined && runtime.policy.route(override.method, target.path) !== rule)) {
      request.tollgate = new RequestContext(runtime, undefined, undefined)
      done(new TollgateError('bad_request', {}, METHOD_OVERRIDE_REFUSED))
      return
    }
    const context = new RequestContext(runtime, rule, target.path + target.query)
    request.tollgate = context
    if (rule?.limit === false) {
      done()
      return
    }
    const identity = runtime.identify(request.raw)
    if (identity instanceof TollgateError) {
      context.identityRefusal = identity.code
      done(identity)
      return
    }
    context.identity = identity
    context.limits = runtime.policy.limits(identity.plan, rule)
    done()
  })

  // Must be registered, and awaited, before the catch-all route: the plugin adds its
  // hook to each route from `onRoute`.
  await proxy.register(rateLimit, {
    global: true,
    hook: 'onRequest',
    max: 1,
    timeWindow: 1000,
    store: DecisionStore as never, // the plugin's type wants its own store class shape
    keyGenerator: (request: FastifyRequest) => request.tollgate as unknown as string,
    allowList: (request: FastifyRequest) => request.tollgate?.limits === undefined,
    skipOnError: false,
    addHeaders: NO_HEADERS,
    addHeadersOnExceeding: NO_HEADERS,
    errorResponseBuilder: (request: FastifyRequest) => {
      const decision = request.tollgate?.decision
      const binding = decision?.binding
      if (decision?.refusal === 'overloaded') return new TollgateError('overloaded', { retry_after: OVERLOADED_RETRY_SECONDS })
      if (decision?.refusal === 'internal_error') return new TollgateError('internal_error')
      if (decision?.refusal === 'limiter_unavailable' || binding === undefined) return new TollgateError('limiter_unavailable')
      return new TollgateError('rate_limited', { policy: binding.policy, retry_after: binding.resetSeconds })
    }
  })
}
