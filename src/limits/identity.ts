import { createHash } from 'node:crypto'
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http'
import proxyAddr from '@fastify/proxy-addr'
import { normalizeIP } from '@fastify/rate-limit'
import { ANONYMOUS, KEY_PATTERN, type Config } from '../config'
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

const MAX_KEY_BYTES = 256
/** Visible ASCII but the comma (config's KEY_PATTERN): anything else is a client bug or a probe, never a key. */
const KEY_CHARS = new RegExp(KEY_PATTERN)
/** `scheme [credentials]`; the scheme is case-insensitive (RFC 9110 §11.1), and SP or HTAB separates. */
const AUTHORIZATION = /^(\S+)(?:[ \t]+(.*))?$/
const AUTHORIZATION_HEADER = 'authorization'

/** What a key may look like; anything else is refused before any lookup. */
export function isWellFormedKey (key: string): boolean {
  return key.length <= MAX_KEY_BYTES && KEY_CHARS.test(key)
}

export function sha256Hex (key: string): string {
  return createHash('sha256').update(key).digest('hex')
}

/**
 * Every value of one header as sent, one per field line. `raw.headers` cannot say:
 * Node joins repeated `x-api-key` lines with ", " and keeps only the first
 * `Authorization`, so a second key would be misread or silently dropped.
 */
function fieldLines (raw: IncomingMessage, name: string): string[] {
  const lines: string[] = []
  const { rawHeaders } = raw
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const field = rawHeaders[i]
    // The length first: lower-casing every name of every request costs more than the rest.
    if (field?.length === name.length && field.toLowerCase() === name) lines.push(rawHeaders[i + 1] ?? '')
  }
  return lines
}

/** The credentials of a Bearer `Authorization`, '' when empty; undefined for another scheme (Basic, Digest: the app's). */
export function bearerOf (authorization: string): string | undefined {
  const parts = AUTHORIZATION.exec(authorization)
  if (parts?.[1]?.toLowerCase() !== 'bearer') return undefined
  return (parts[2] ?? '').trim()
}

const malformed = (reason: string): TollgateError => new TollgateError('malformed_api_key', { reason })

/**
 * The key a request presents: from `header` and from `Authorization: Bearer`, which
 * must agree when both are sent (`header: authorization` means the Bearer form).
 * undefined when none is sent; a refusal when what is sent cannot be one key. A client
 * that sends a credential, even an empty one, never falls back to the anonymous plan.
 */
function presentedKey (raw: IncomingMessage, header: string): string | TollgateError | undefined {
  // Fast path: most requests carry neither header, or each once.
  if (raw.headers[header] === undefined && raw.headers.authorization === undefined) return undefined
  const direct = header === AUTHORIZATION_HEADER ? [] : fieldLines(raw, header)
  const authorization = fieldLines(raw, AUTHORIZATION_HEADER)
  if (direct.length > 1) return malformed(`the ${header} header was sent more than once`)
  const bearers = authorization.map(bearerOf).filter((value) => value !== undefined)
  if (bearers.length > 1 || (bearers.length === 1 && authorization.length > 1)) return malformed('the Authorization header was sent more than once')
  const [fromHeader] = direct
  const [fromBearer] = bearers
  if (fromHeader !== undefined && fromBearer !== undefined && fromHeader !== fromBearer) {
    return malformed(`the ${header} header and Authorization: Bearer name different keys`)
  }
  return fromHeader ?? fromBearer
}

/**
 * The names of the credential headers tollgate reads in these headers, which are never
 * forwarded: the key header, and `Authorization` when it is the Bearer form.
 */
export function credentialHeaders (headers: IncomingHttpHeaders, header: string): string[] {
  const names = header === AUTHORIZATION_HEADER || headers[header] === undefined ? [] : [header]
  const { authorization } = headers
  if (authorization !== undefined && bearerOf(authorization) !== undefined) names.push(AUTHORIZATION_HEADER)
  return names
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
  // Known keys as presented, so a client's every request after its first skips the sha256
  // (4% of a request's CPU in the bench profile). Only keys that matched a digest enter,
  // so it holds at most one entry per configured key whatever a caller sends; it lives
  // as long as this config snapshot, in memory only, like every key the process sees.
  const byPresentedKey = new Map<string, Identity>()
  const anonymousAllowed = config.plans[ANONYMOUS] !== undefined
  const unknownIsAnonymous = config.api_key.unknown === ANONYMOUS

  const anonymous = (clientIp: () => string | undefined): Identity | TollgateError => {
    const ip = clientIp()
    if (ip === undefined) return new TollgateError('bad_request', {}, 'An anonymous caller needs `ip`: give a known `key`, or the client\'s `ip`.')
    return { client: ANONYMOUS, plan: ANONYMOUS, subject: `anon:${normalizeIP(ip)}` }
  }

  return (key, clientIp) => {
    if (key === undefined) {
      return anonymousAllowed ? anonymous(clientIp) : new TollgateError('api_key_required')
    }
    // An empty key is sent, not absent: it is an unknown key (no key is empty).
    if (key.length > MAX_KEY_BYTES) return malformed(`longer than ${MAX_KEY_BYTES} characters`)
    if (key !== '' && !KEY_CHARS.test(key)) return malformed('characters other than visible ASCII (a space, a control or non-ASCII byte) or a comma')
    const seen = byPresentedKey.get(key)
    if (seen !== undefined) return seen
    const known = byDigest.get(sha256Hex(key))
    if (known !== undefined) {
      byPresentedKey.set(key, known)
      return known
    }
    return unknownIsAnonymous && anonymousAllowed ? anonymous(clientIp) : new TollgateError('invalid_api_key')
  }
}

/** Builds the identity resolver of requests (proxy, decision API) for one config snapshot. */
export function buildIdentify (config: Config): Identify {
  const resolve = buildResolve(config)
  const header = config.api_key.header.toLowerCase()
  const clientIp = clientIpOf(config)
  return (raw) => {
    const key = presentedKey(raw, header)
    if (key instanceof TollgateError) return key
    return resolve(key, () => clientIp(raw))
  }
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
