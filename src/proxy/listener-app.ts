import type { ServerOptions } from 'node:http'
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import { TollgateError } from '../errors'
import type { Runtime } from '../limits'
import { RequestObserver, type Logger, type Metrics, type RequestFacts } from '../observe'
import { RequestContext } from './context'
import { acceptEveryMethod } from './methods'
import { clientErrorHandler, refuseTunnels } from './protocol'

export interface ListenerAppOptions {
  readonly listener: 'proxy' | 'decision'
  readonly log: Logger
  readonly metrics: Metrics
  readonly currentRuntime: () => Runtime
  /** True once shutdown began: responses then carry `connection: close`. */
  readonly draining: () => boolean
  /** A request whose answer ends its connection even when not draining. */
  readonly closesConnection?: (request: FastifyRequest) => boolean
  /** Fastify's `bodyLimit`; its default (1 MiB) when absent. */
  readonly bodyLimit?: number
  /** Node's server options (timeouts, the connection cap). */
  readonly http?: ServerOptions
}

export interface ListenerApp {
  readonly app: FastifyInstance
  /** Counts and logs each finished request; a hijacked one is reported to it by hand. */
  readonly observer: RequestObserver
}

function describe (request: FastifyRequest): RequestFacts {
  return request.tollgate?.facts() ?? { route: 'default' }
}

function sendBadRequest (reply: FastifyReply): void {
  void reply.code(400).send(new TollgateError('bad_request').body())
}

/**
 * The Fastify instance the proxy and the decision API share: one access log and set of
 * request metrics, tollgate's JSON for what Node or the router refuse before routing,
 * every method accepted, no body parsed (a parser is added where a body is read), and
 * `connection: close` once draining.
 */
export function buildListenerApp (options: ListenerAppOptions): ListenerApp {
  const { listener, log, metrics, currentRuntime, draining } = options
  const observer = new RequestObserver({
    listener,
    metrics,
    describe,
    log,
    accessLog: () => currentRuntime().config.access_log
  })
  const app = Fastify({
    loggerInstance: log as FastifyBaseLogger,
    logController: observer,
    ...(options.bodyLimit === undefined ? {} : { bodyLimit: options.bodyLimit }),
    ...(options.http === undefined ? {} : { http: options.http }),
    return503OnClosing: true,
    routerOptions: { ignoreDuplicateSlashes: false, maxParamLength: 1000 },
    // A path the router cannot decode (`/%zz`) reaches no hook, route or error handler;
    // Fastify would answer it in its own shape.
    frameworkErrors: (_error, request, reply) => {
      // No target: counted as `route="malformed"`, like the paths the hook refuses.
      request.tollgate = new RequestContext(currentRuntime(), undefined, undefined)
      // Fastify reports only routed requests to the observer, and this one ends before routing.
      reply.raw.once('finish', () => { observer.requestCompleted(null, request, reply) })
      sendBadRequest(reply)
    },
    clientErrorHandler: clientErrorHandler({ listener, metrics, log })
  })
  refuseTunnels(app, { listener, metrics, log })
  // Envoy asks with the original method, whatever it is; the proxy forwards any.
  acceptEveryMethod(app)
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', (_request, _payload, done) => { done(null) })
  // A client on a keep-alive connection must learn we are leaving, or the drain waits
  // for its socket until the keep-alive timeout.
  const closes = options.closesConnection
  app.addHook('onSend', (request, reply, payload, done) => {
    if (draining() || closes?.(request) === true) reply.header('connection', 'close')
    done(null, payload)
  })
  return { app, observer }
}
