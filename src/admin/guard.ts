import { createHash, timingSafeEqual } from 'node:crypto'
import type { FastifyInstance, FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify'
import { TollgateError } from '../errors'
import { bearerOf } from '../limits'
import type { Logger } from '../observe'
import { isLoopbackBind } from './loopback'

export interface GuardOptions {
  /** `admin.token` in force, read per request so that a reload rotates it. */
  readonly token: () => string | undefined
  /** `listen.admin` as bound: it needs a restart, so the first config's decides. */
  readonly bind: string
  readonly log: Logger
}

/** Reads never change state, so scrapers and kubelets need no token. */
const SAFE_METHODS = new Set(['GET', 'HEAD'])

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

/** Why a mutating request is refused, or undefined when it may go on. */
function refusal (request: FastifyRequest, options: GuardOptions, loopback: boolean): TollgateError | undefined {
  const token = options.token()
  if (token !== undefined) {
    // The same reading of `Authorization: Bearer` as for API keys (limits/identity.ts).
    const bearer = bearerOf(request.headers.authorization ?? '')
    return bearer !== undefined && sameToken(bearer, token) ? undefined : new TollgateError('admin_token_required')
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
  return undefined
}

/**
 * Guards every admin route with a method other than GET or HEAD, whenever it is added:
 * registered before any route (from `onRoute`), so a new mutating endpoint cannot
 * forget it. It runs at `onRequest`, before a body is read.
 */
export function guardMutations (admin: FastifyInstance, options: GuardOptions): void {
  const loopback = isLoopbackBind(options.bind)
  const guard: onRequestHookHandler = (request, reply, done) => {
    const error = refusal(request, options, loopback)
    if (error === undefined) {
      done()
      return
    }
    // The presented token is never logged: only that it failed, and from where.
    options.log.warn({ method: request.method, url: request.url, remote: request.ip, error: error.code }, 'admin request refused')
    refuse(reply, error)
  }
  admin.addHook('onRoute', (route) => {
    const methods = [route.method].flat()
    if (methods.every((method) => SAFE_METHODS.has(method))) return
    route.onRequest = [guard, ...[route.onRequest ?? []].flat()]
  })
}
