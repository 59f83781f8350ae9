import { createHash } from 'node:crypto'
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http'
import proxyAddr from '@fastify/proxy-addr'
import { normalizeIP } from '@fastify/rate-limit'
import type { Config } from '../config'
import { TollgateError } from '../errors'

/** Who is calling, as far as limits, logs and metrics are concerned. */
export interface Identity {
  /** A key's `name`, or `anonymous`. Safe in logs, metric labels and headers. */
  readonly client: string
  readonly plan: string
  /** Whose budget is spent: the client name, or `anon:<ip>` for anonymous callers. */
  readonly subject: string
}

export type Identify = (raw: IncomingMessage) => Identity | TollgateError

export const ANONYMOUS_PLAN = 'anonymous'
const MAX_KEY_BYTES = 256
/** Visible ASCII only: anything else is a client bug or a probe, never a key. */
const VISIBLE_ASCII = /^[\x21-\x7e]+$/
const BEARER = /^bearer +(\S*)$/i

/** What a key may look like; anything else is refused before any lookup. */
export function isWellFormedKey (key: string): boolean {
  return key.length <= MAX_KEY_BYTES && VISIBLE_ASCII.test(key)
}

export function sha256Hex (key: string): string {
  return createHash('sha256').update(key).digest('hex')
}

/** The key from the configured header, else from `Authorization: Bearer`; '' when none. */
function presentedKey (headers: IncomingHttpHeaders, header: string): string | undefined {
  const direct = headers[header]
  if (typeof direct === 'string' && direct !== '') return direct
  const authorization = headers.authorization
  if (authorization === undefined) return undefined
  const bearer = BEARER.exec(authorization)
  // Other schemes (Basic, Digest) belong to the app, not to us.
  return bearer === null ? undefined : bearer[1]
}

function clientIpOf (config: Config): (raw: IncomingMessage) => string {
  if (config.trust_proxy === false) return (raw) => raw.socket.remoteAddress ?? 'unknown'
  const trust = config.trust_proxy === true ? () => true : proxyAddr.compile(config.trust_proxy)
  return (raw) => proxyAddr(raw, trust)
}

/**
 * Whether the connecting peer is a proxy `trust_proxy` trusts, so its
 * `x-forwarded-proto/host` may be passed on to the app as they are.
 */
export function buildPeerTrust (config: Config): (raw: IncomingMessage) => boolean {
  const trust = config.trust_proxy
  if (typeof trust === 'boolean') return () => trust
  const trusts = proxyAddr.compile([...trust])
  return (raw) => trusts(raw.socket.remoteAddress ?? '', 0)
}

/** Who a presented key (or none) is: one rule for every way a caller is identified. */
type Resolve = (key: string | undefined, clientIp: () => string | undefined) => Identity | TollgateError

function buildResolve (config: Config): Resolve {
  const byDigest = new Map<string, Identity>()
  for (const key of config.keys) {
    const digest = key.sha256?.toLowerCase() ?? sha256Hex(key.key ?? '')
    byDigest.set(digest, { client: key.name, plan: key.plan, subject: key.name })
  }
  const anonymousAllowed = config.plans[ANONYMOUS_PLAN] !== undefined
  const unknownIsAnonymous = config.api_key.unknown === 'anonymous'

  const anonymous = (clientIp: () => string | undefined): Identity | TollgateError => {
    const ip = clientIp()
    if (ip === undefined) return new TollgateError('bad_request', {}, 'An anonymous caller needs `ip`: give a known `key`, or the client\'s `ip`.')
    return { client: 'anonymous', plan: ANONYMOUS_PLAN, subject: `anon:${normalizeIP(ip)}` }
  }

  return (key, clientIp) => {
    if (key === undefined) {
      return anonymousAllowed ? anonymous(clientIp) : new TollgateError('api_key_required')
    }
    if (!isWellFormedKey(key)) return new TollgateError('malformed_api_key')
    const known = byDigest.get(sha256Hex(key))
    if (known !== undefined) return known
    return unknownIsAnonymous && anonymousAllowed ? anonymous(clientIp) : new TollgateError('invalid_api_key')
  }
}

/** Builds the identity resolver of requests (proxy, decision API) for one config snapshot. */
export function buildIdentify (config: Config): Identify {
  const resolve = buildResolve(config)
  const header = config.api_key.header.toLowerCase()
  const clientIp = clientIpOf(config)
  return (raw) => resolve(presentedKey(raw.headers, header), () => clientIp(raw))
}

/**
 * A key (or none) and a client IP given as values, not as a request: `POST /v1/check`.
 * Judged by the same rules as a request's key header.
 */
export type IdentifyKey = (key: string | undefined, ip: string | undefined) => Identity | TollgateError

export function buildIdentifyKey (config: Config): IdentifyKey {
  const resolve = buildResolve(config)
  return (key, ip) => resolve(key, () => ip)
}
