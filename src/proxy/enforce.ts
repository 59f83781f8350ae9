import rateLimit from '@fastify/rate-limit'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { TollgateError } from '../errors'
import type { Runtime } from '../limits'
import { admit } from './admission'
import { RequestContext } from './context'
import { refusalError } from './refusal'
import { upgradeRefusal } from './upgrade'

/**
 * Identity and limits on the proxy instance, in this order on every request:
 * 1. our `onRequest` hook pins the runtime and admits the request (admission.ts:
 *    normalised path, route rule, identity; 400/401 here, before anything is spent);
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
    const { context, refusal } = admit(runtime, {
      method: request.method,
      target: request.url,
      headers: request.headers,
      identify: () => runtime.identify(request.raw)
    })
    request.tollgate = context
    done(refusal)
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
    errorResponseBuilder: (request: FastifyRequest) => refusalError(request.tollgate?.decision)
  })
}
