import type { FastifyInstance, FastifyRequest } from 'fastify'
import { TollgateError } from '../errors'
import type { Runtime } from '../limits'
import { activeTracing } from '../observe'
import { admit } from './admission'
import { RequestContext } from './context'
import { refusalError } from './refusal'
import { upgradeRefusal } from './upgrade'

/**
 * Identity and limits on the proxy instance: one `onRequest` hook decides each request,
 * top to bottom, before its body is read:
 * 1. pin the runtime (config snapshot) in force;
 * 2. admit (admission.ts): normalised path, route rule, method overrides, identity;
 *    400/401 here, before anything is spent;
 * 3. decide: the limiter's one multi-window check (a remembered refusal, or one store
 *    call), kept on the request context for the headers, the metrics and the log;
 * 4. refuse (429, 503) through the error handler, or let the route forward.
 * With traces on, steps 2 to 4 run inside a `tollgate.check` span (observe/tracing.ts).
 */
export function registerEnforcement (proxy: FastifyInstance, currentRuntime: () => Runtime): void {
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
    const tracing = activeTracing()
    // Off: no span, no wrapper, nothing but this one check.
    if (tracing !== undefined) {
      const span = tracing.startCheck(request.headers)
      const traced = (error?: Error): void => { tracing.endCheck(span, request.tollgate?.facts(), error); done(error) }
      decide(runtime, request, traced)
      return
    }
    decide(runtime, request, done)
  })
}

/** Steps 2 to 4 for one request: `done` hears the refusal, if any. */
function decide (runtime: Runtime, request: FastifyRequest, done: (error?: Error) => void): void {
  const { context, refusal } = admit(runtime, {
    method: request.method,
    target: request.url,
    headers: request.headers,
    identify: () => runtime.identify(request.raw)
  })
  request.tollgate = context
  const { identity, limits } = context
  if (refusal !== undefined || identity === undefined || limits === undefined) {
    done(refusal)
    return
  }
  runtime.limiter.decide(identity.subject, limits, context.rule?.cost ?? 1).then((decision) => {
    context.decision = decision
    done(decision.refusal === undefined ? undefined : refusalError(decision))
  }, done)
}
