import { createHash, timingSafeEqual } from 'node:crypto'
import type { FastifyInstance, FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify'
import { TollgateError } from '../errors'
import { bearerOf } from '../limits'
import type { Logger } from '../observe'
import { isLoopbackBind } from './loopback'

export interface GuardOptions {
  /** `admin.token` in force, as named tokens, read per request so that a reload rotates them. */
  readonly tokens: () => ReadonlyArray<{ readonly name: string, readonly token: string }>
  /** `listen.admin` as bound: it needs a restart, so the first config's decides. */
  readonly bind: string
  readonly log: Logger
}

/** Reads never change state, so scrapers and kubelets need no token. */
const SAFE_METHODS = new Set(['GET', 'HEAD'])
/**
 * The operator's API (usage, overrides, bans, audit): its reads show customers' names,
 * plans, usage and the reasons for their bans, so they are guarded like mutations.
 */
const GUARDED_PREFIX = '/v1/'
/** Who made a change, when no token is set and the port is loopback: whoever is on the host. */
export const LOOPBACK_ACTOR = 'loopback'

/** The name of the token each admitted request presented, for the audit trail. */
const actors = new WeakMap<FastifyRequest, string>()

/** Who is asking: the presented token's name, or `loopback`. Only set on guarded routes. */
export function actorOf (request: FastifyRequest): string {
  return actors.get(request) ?? LOOPBACK_ACTOR
}

const digest = (value: string): Buffer => createHash('sha256').update(value).digest()

/**
 * Equal digests, compared in constant time: comparing the strings would leak the length
 * of the common prefix, and timingSafeEqual wants equal lengths, which digests have.
 */
function sameToken (presented: string, expected: string): boolean {
  return timingSafeEqual(digest(presented), digest(expected))
}

function refuse (reply: FastifyReply, error: TollgateError): FastifyReply {
  if (error.statusCode === 401) reply.header('www-authenticate', 'Bearer realm="tollgate admin"')
  return reply.code(error.statusCode).send(error.body())
}

/** Why a guarded request is refused, or who it is (the token's name) when it may go on. */
function refusal (request: FastifyRequest, options: GuardOptions, loopback: boolean): TollgateError | { readonly actor: string } {
  const tokens = options.tokens()
  if (tokens.length > 0) {
    // The same reading of `Authorization: Bearer` as for API keys (limits/identity.ts).
    const bearer = bearerOf(request.headers.authorization ?? '')
    // Every token is compared, so the time taken does not say which one matched.
    const matches = bearer === undefined ? [] : tokens.filter((t) => sameToken(bearer, t.token))
    const first = matches[0]
    return first === undefined ? new TollgateError('admin_token_required') : { actor: first.name }
  }
  if (!loopback) {
    return new TollgateError('admin_locked', { reason: 'no admin.token is set and listen.admin is not a loopback address: set admin.token, or bind listen.admin to 127.0.0.1' })
  }
  // On loopback with no token, a web page the operator has open could POST here (a
  // simple request needs no preflight, and DNS rebinding makes it same-origin); browsers
  // always say `Origin` on a POST, curl and scripts do not.
  if (request.headers.origin !== undefined) {
    return new TollgateError('admin_locked', { reason: 'a browser request (it has an Origin header) needs admin.token' })
  }
  return { actor: LOOPBACK_ACTOR }
}

/**
 * Guards every admin route with a method other than GET or HEAD, and every route of the
 * operator's API (`/v1/...`), whenever it is added: registered before any route (from
 * `onRoute`), so a new endpoint cannot forget it. It runs at `onRequest`, before a body
 * is read.
 */
export function guardMutations (admin: FastifyInstance, options: GuardOptions): void {
  const loopback = isLoopbackBind(options.bind)
  const guard: onRequestHookHandler = (request, reply, done) => {
    const error = refusal(request, options, loopback)
    if (!(error instanceof TollgateError)) {
      actors.set(request, error.actor)
      done()
      return
    }
    // The presented token is never logged: only that it failed, and from where.
    options.log.warn({ method: request.method, url: request.url, remote: request.ip, error: error.code }, 'admin request refused')
    refuse(reply, error)
  }
  admin.addHook('onRoute', (route) => {
    const methods = [route.method].flat()
    if (methods.every((method) => SAFE_METHODS.has(method)) && !route.url.startsWith(GUARDED_PREFIX)) return
    route.onRequest = [guard, ...[route.onRequest ?? []].flat()]
  })
}
