import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { TollgateError } from '../errors'
import { rateLimitFields, type Runtime } from '../limits'
import type { Logger, Metrics } from '../observe'
import { registerEnforcement } from './enforce'
import type { Forwarder, UpstreamResponse } from './forward'
import { responseHead, setRateLimitHeaders } from './headers'
import { buildListenerApp } from './listener-app'
import { HTTP_SERVER_OPTIONS, reportDroppedConnections } from './listener'
import { acceptUpgrades, isUpgrade, splice } from './upgrade'

export interface ProxyDeps {
  readonly log: Logger
  readonly metrics: Metrics
  readonly currentRuntime: () => Runtime
  readonly forwarder: Forwarder
  /** True once shutdown began: responses then carry `connection: close`. */
  readonly draining: () => boolean
}

/** The app's answer, with our rate-limit headers. */
function relay (response: UpstreamResponse, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  reply.code(response.statusCode).headers(response.headers)
  const decision = request.tollgate?.decision
  if (decision !== undefined) setRateLimitHeaders(reply, decision)
  return reply.send(response.body)
}

function sendError (error: TollgateError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const decision = request.tollgate?.decision
  if (decision !== undefined) setRateLimitHeaders(reply, decision)
  return reply.code(error.statusCode).send(error.body())
}

/**
 * The proxy listener: every path and method goes to the app unless tollgate refuses
 * it. Nothing here parses a body: one catch-all content-type parser leaves the raw
 * stream untouched so it can be piped to the upstream (a 50 MB upload is never
 * buffered, and a refused one is answered before its body is read).
 */
export async function buildProxy (deps: ProxyDeps): Promise<FastifyInstance> {
  const { app: proxy, observer } = buildListenerApp({
    ...deps,
    listener: 'proxy',
    // Limits on a client's headers are Node's (16 KiB, 431); a body is never read here.
    bodyLimit: Number.MAX_SAFE_INTEGER,
    // Timeouts and the connection cap come from `server:` (applyServerSettings).
    http: HTTP_SERVER_OPTIONS,
    // An upgrade request that is answered without switching ends its connection (a
    // forwarded response is written past Fastify: responseHead says it there).
    closesConnection: (request) => isUpgrade(request.raw)
  })
  reportDroppedConnections(proxy.server, deps.log)

  proxy.setErrorHandler((error: FastifyError | TollgateError, request, reply) => {
    if (error instanceof TollgateError) return sendError(error, request, reply)
    const status = error.statusCode ?? 500
    if (status < 500) return sendError(new TollgateError('bad_request', {}, error.message), request, reply)
    request.log.error({ err: error }, 'unexpected error while proxying')
    return sendError(new TollgateError('internal_error'), request, reply)
  })

  acceptUpgrades(proxy)

  registerEnforcement(proxy, deps.currentRuntime)

  const { forwarder } = deps
  proxy.all('*', async (request, reply) => {
    const context = request.tollgate
    const trustForwarded = context !== null && context.runtime.trustsPeer(request.raw)
    if (isUpgrade(request.raw)) {
      const answer = await forwarder.upgrade(request, context?.identity, trustForwarded)
      if (!answer.upgraded) return relay(answer.response, request, reply)
      // Switched: the socket is the tunnel's now, Fastify writes nothing more. It is
      // counted here, as a 101, since no response will ever finish.
      reply.hijack()
      splice(request.raw, answer, context?.decision === undefined ? [] : rateLimitFields(context.decision))
      reply.code(101)
      observer.requestCompleted(null, request, reply)
      return reply
    }
    await forwarder.send(request, reply, context?.identity, trustForwarded, (_statusCode, headers) =>
      responseHead(headers, context?.decision, deps.draining()))
    return reply
  })

  return proxy
}
