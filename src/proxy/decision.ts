import { isIP } from 'node:net'
import { Type, type Static } from '@sinclair/typebox'
import Ajv from 'ajv'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { TollgateError } from '../errors'
import { MAX_AMOUNT } from '../config'
import type { Decision, Identity, Runtime } from '../limits'
import { activeTracing, type Logger, type Metrics } from '../observe'
import { admit } from './admission'
import { RequestContext } from './context'
import { setRateLimitHeaders } from './headers'
import { buildListenerApp } from './listener-app'
import { AUTHORIZE_PATH, originalRequest } from './original'
import { refusalError } from './refusal'

export interface DecisionDeps {
  readonly log: Logger
  readonly metrics: Metrics
  readonly currentRuntime: () => Runtime
  /** True once shutdown began: responses then carry `connection: close`. */
  readonly draining: () => boolean
}

/** A `POST /v1/check` body is a few fields; anything larger is not one. */
const CHECK_BODY_LIMIT = 4096

const CheckBodySchema = Type.Object({
  /** The client's API key; without it, `ip` names an anonymous caller. */
  key: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
  ip: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  method: Type.String({ pattern: '^[A-Za-z]+$', maxLength: 32, default: 'GET' }),
  path: Type.String({ pattern: '^/', maxLength: 8192 }),
  /** Defaults to the route rule's cost. */
  cost: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_AMOUNT })),
  /** Report without spending: exactly what the real check would answer now. */
  dry_run: Type.Boolean({ default: false })
}, { additionalProperties: false })
type CheckBody = Static<typeof CheckBodySchema>

/**
 * Fastify's default validator drops unknown fields and coerces types (`"cost": "5"`); a
 * misspelt `dry_rn: true` would then spend for real. Unknown fields are errors here, as
 * in config.yml.
 */
const strict = new Ajv({ allErrors: false, useDefaults: true, coerceTypes: false, removeAdditional: false })

const NOT_FOUND = 'No such endpoint: the decision API serves /v1/authorize (any method) and POST /v1/check.'

/** Fastify's own errors (a body it cannot parse, a schema it does not match) in our shape. */
function asTollgateError (error: FastifyError): TollgateError {
  const status = error.statusCode ?? 500
  if (status === 413) return new TollgateError('payload_too_large')
  return status < 500 ? new TollgateError('bad_request', {}, error.message) : new TollgateError('internal_error')
}

function setIdentityHeaders (reply: FastifyReply, identity: Identity | undefined): void {
  if (identity === undefined) return
  reply.header('x-tollgate-client', identity.client)
  reply.header('x-tollgate-plan', identity.plan)
}

/**
 * The decision API: a gateway (nginx `auth_request`, Traefik `forwardAuth`, Envoy
 * `ext_authz`) or an app asks whether a request may go on, and tollgate answers from the
 * same admission (path, route rule, identity) and the same limiter as the proxy. Nothing
 * is forwarded, and no body of `/v1/authorize` is ever read.
 */
export async function buildDecision (deps: DecisionDeps): Promise<FastifyInstance> {
  const { app } = buildListenerApp({ ...deps, listener: 'decision' })
  app.decorateRequest('tollgate', null)

  app.setNotFoundHandler(async (request, reply) => {
    request.tollgate = new RequestContext(deps.currentRuntime(), undefined, undefined)
    return await reply.code(404).send(new TollgateError('not_found', {}, NOT_FOUND).body())
  })
  app.setErrorHandler((error: FastifyError | TollgateError, request, reply) => {
    request.tollgate ??= new RequestContext(deps.currentRuntime(), undefined, undefined)
    const refusal = error instanceof TollgateError ? error : asTollgateError(error)
    if (refusal.code === 'internal_error' && !(error instanceof TollgateError)) request.log.error({ err: error }, 'unexpected error in the decision API')
    const decision = request.tollgate.decision
    if (decision !== undefined) setRateLimitHeaders(reply, decision)
    setIdentityHeaders(reply, request.tollgate.identity)
    // A refusal keeps the proxy's 429 body; its status is the gateway's to choose.
    const status = refusal.code === 'rate_limited' ? request.tollgate.runtime.config.decision.deny_status : refusal.statusCode
    return reply.code(status).send(refusal.body())
  })

  // What a gateway sends along (Envoy with `with_request_body`), or any body to a path
  // that is not an endpoint, is never read (buildListenerApp parses none): only
  // POST /v1/check parses one.
  registerAuthorize(app, deps)

  await app.register(async (scope) => {
    scope.removeAllContentTypeParsers()
    scope.addContentTypeParser('application/json', { parseAs: 'string', bodyLimit: CHECK_BODY_LIMIT }, scope.getDefaultJsonParser('error', 'error'))
    registerCheck(scope, deps)
  })

  return app
}

/** `/v1/authorize` and below, any method: a gateway asks about the request it holds. */
function registerAuthorize (app: FastifyInstance, deps: DecisionDeps): void {
  const authorize = async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    const runtime = deps.currentRuntime()
    request.tollgate = new RequestContext(runtime, undefined, undefined)
    const original = originalRequest(request.method, request.url, request.headers)
    if (!original.ok) throw new TollgateError('bad_request', {}, original.reason)
    const { context, refusal } = admit(runtime, {
      method: original.method,
      target: original.target,
      headers: request.headers,
      identify: () => runtime.identify(request.raw)
    })
    request.tollgate = context
    if (refusal !== undefined) throw refusal
    const { identity, limits } = context
    // A `limit: false` rule: no identity, no limit, allowed.
    if (identity === undefined || limits === undefined) return await reply.code(200).send()
    const decision = await runtime.limiter.decide(identity.subject, limits, context.rule?.cost ?? 1)
    context.decision = decision
    if (decision.refusal !== undefined) throw refusalError(decision)
    setRateLimitHeaders(reply, decision)
    setIdentityHeaders(reply, identity)
    return await reply.code(200).send()
  }
  const traced = async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    const tracing = activeTracing()
    if (tracing === undefined) return await authorize(request, reply)
    return await tracing.traceCheck(request.headers, () => request.tollgate?.facts(), async () => await authorize(request, reply))
  }
  app.all(AUTHORIZE_PATH, traced)
  app.all(`${AUTHORIZE_PATH}/*`, traced)
}

/** `POST /v1/check`: an app asks, in JSON, about a request it describes. */
function registerCheck (app: FastifyInstance, deps: DecisionDeps): void {
  const check = async (request: FastifyRequest<{ Body: CheckBody }>): Promise<object> => {
    const runtime = deps.currentRuntime()
    request.tollgate = new RequestContext(runtime, undefined, undefined)
    const { key, ip, method, path, cost, dry_run: dryRun } = request.body
    if (ip !== undefined && isIP(ip) === 0) throw new TollgateError('bad_request', {}, 'body/ip must be an IPv4 or IPv6 address')
    const { context, refusal } = admit(runtime, {
      method: method.toUpperCase(),
      target: path,
      headers: {},
      identify: () => runtime.identifyKey(key, ip)
    })
    request.tollgate = context
    if (refusal !== undefined) throw refusal
    const { identity, limits } = context
    if (identity === undefined || limits === undefined) {
      return { allowed: true, client: null, plan: null, retry_after: 0, windows: [] }
    }
    const decision = await runtime.limiter.decide(identity.subject, limits, cost ?? context.rule?.cost ?? 1, dryRun)
    // A dry run is no request: it is not counted as a decision.
    if (!dryRun) context.decision = decision
    return checkAnswer(identity, limits.windows, decision)
  }
  app.post<{ Body: CheckBody }>('/v1/check', { schema: { body: CheckBodySchema }, validatorCompiler: ({ schema }) => strict.compile(schema) }, async (request) => {
    const tracing = activeTracing()
    if (tracing === undefined) return await check(request)
    return await tracing.traceCheck(request.headers, () => request.tollgate?.facts(), async () => await check(request))
  })
}

/** The JSON of `POST /v1/check`: 200 whether allowed or not; a limiter that could not decide is an error. */
function checkAnswer (identity: Identity, windows: ReadonlyArray<{ policy: string, max: number }>, decision: Decision): object {
  if (decision.refusal !== undefined && decision.refusal !== 'rate_limited') throw refusalError(decision)
  return {
    allowed: decision.refusal === undefined,
    outcome: decision.outcome,
    client: identity.client,
    plan: identity.plan,
    retry_after: decision.refusal === 'rate_limited' ? decision.binding?.resetSeconds ?? 0 : 0,
    windows: (decision.windows ?? []).map((result, i) => ({
      policy: windows[i]?.policy,
      max: windows[i]?.max,
      remaining: result.remaining,
      reset: Math.ceil(result.resetMs / 1000)
    }))
  }
}
