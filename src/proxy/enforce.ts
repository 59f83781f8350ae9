import rateLimit from '@fastify/rate-limit'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { TollgateError } from '../errors'
import { OVERLOADED_RETRY_SECONDS, type Runtime } from '../limits'
import { RequestContext } from './context'

/**
 * Identity and limits on the proxy instance, in this order on every request:
 * 1. our `onRequest` hook pins the runtime, matches the route rule and identifies the
 *    caller (401/400 here, before anything is spent);
 * 2. @fastify/rate-limit's own `onRequest` hook asks `DecisionStore`, which runs the
 *    whole multi-window check in one store call and keeps the full decision on the
 *    request context; the plugin's refusal path then throws our 429.
 * The plugin only sees one window and no cost, so it is told `max: 1` and a refused
 * decision is reported as `current: 2`; the real numbers go out in our headers.
 */

function pathOf (url: string): string {
  const query = url.indexOf('?')
  return query === -1 ? url : url.slice(0, query)
}

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

const NO_HEADERS = { 'x-ratelimit-limit': false, 'x-ratelimit-remaining': false, 'x-ratelimit-reset': false, 'retry-after': false }

export async function registerEnforcement (proxy: FastifyInstance, currentRuntime: () => Runtime): Promise<void> {
  proxy.decorateRequest('tollgate', null)

  proxy.addHook('onRequest', (request, _reply, done) => {
    const runtime = currentRuntime()
    const rule = runtime.policy.route(request.method, pathOf(request.url))
    const context = new RequestContext(runtime, rule)
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
