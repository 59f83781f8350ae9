import { ANONYMOUS, NO_PLAN, UNKNOWN_CLIENT, type Config } from '../config'
import { ERRORS } from '../errors'
import { isWellFormedKey, rateLimitFields, sha256Hex, type Decision, type GroupInput, type PlanLimits, type Runtime } from '../limits'
import type { DescriptorStatus, RateLimitRequest, RateLimitResponse } from './proto'
import { matches, rlsOf, type CompiledRls, type CompiledRule, type KeyOwner } from './rules'
import { envoyLimit, unitLabel, unitMs } from './units'

/**
 * One ShouldRateLimit call, decided top to bottom: check the request's bounds, match
 * every descriptor to its domain's first fitting rule, resolve whose budget each one
 * spends, decide all of them in one atomic store call, answer one status per
 * descriptor. The gRPC server only turns the result (or an `InvalidRequest`) into a
 * reply and metrics.
 */

/** Bounds on what one call may ask for: far above what Envoy sends, low enough to keep one call cheap. */
export const MAX_DESCRIPTORS = 64
export const MAX_ENTRIES = 16
export const MAX_TEXT = 1024
/** The stores' bound on one request's cost. */
export const MAX_HITS = 1e9

/** The request breaks the contract: answered INVALID_ARGUMENT with this message. */
export class InvalidRequest extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'InvalidRequest'
  }
}

/** One `tollgate_ratelimit_decisions_total` increment. */
export interface DecisionRecord {
  readonly client: string
  readonly plan: string
  readonly decision: string
}

export interface RlsAnswer {
  readonly response: RateLimitResponse
  readonly decisions: readonly DecisionRecord[]
}

interface Group extends GroupInput {
  readonly client: string
  readonly headers: boolean
}

/** Where a descriptor's budget is: nowhere (OK as it is), a refused key, or a group. */
type Resolution =
  | { readonly kind: 'free' }
  | { readonly kind: 'unauthenticated' }
  | { readonly kind: 'banned', readonly expires: string }
  | { readonly kind: 'group', readonly index: number }

const OK: DescriptorStatus = { code: 'OK', limit_remaining: 0 }

function assertBounds (request: RateLimitRequest): void {
  if (request.domain === '') throw new InvalidRequest('domain must not be empty')
  if (request.domain.length > MAX_TEXT) throw new InvalidRequest(`domain is longer than ${MAX_TEXT} characters`)
  if (request.descriptors.length === 0) throw new InvalidRequest('descriptors must not be empty')
  if (request.descriptors.length > MAX_DESCRIPTORS) throw new InvalidRequest(`at most ${MAX_DESCRIPTORS} descriptors per call`)
  if (request.hits_addend > MAX_HITS) throw new InvalidRequest(`hits_addend is above ${MAX_HITS}`)
  request.descriptors.forEach((descriptor, i) => {
    if (descriptor.entries.length === 0 || descriptor.entries.length > MAX_ENTRIES) {
      throw new InvalidRequest(`descriptors[${i}] must have 1 to ${MAX_ENTRIES} entries`)
    }
    for (const entry of descriptor.entries) {
      if (entry.key === '' || entry.value === '') throw new InvalidRequest(`descriptors[${i}]: an entry's key and value must not be empty`)
      if (entry.key.length > MAX_TEXT || entry.value.length > MAX_TEXT) throw new InvalidRequest(`descriptors[${i}]: an entry is longer than ${MAX_TEXT} characters`)
    }
  })
}

/** The key holder an `api_key` value names; undefined when it is refused. */
function keyOwner (rls: CompiledRls, value: string): { owner: KeyOwner, subject: string } | undefined {
  const known = isWellFormedKey(value) ? rls.keys.get(sha256Hex(value)) : undefined
  if (known !== undefined) return { owner: known, subject: known.client }
  // Every unknown key shares one budget: a client inventing keys gains nothing.
  return rls.unknownKey === undefined ? undefined : { owner: rls.unknownKey, subject: 'anon:unknown-key' }
}

/** The window Envoy's `limit` override asks for, in the rule's scope, keyed by its unit (never its count). */
function overrideLimits (config: Config, rule: CompiledRule, limit: NonNullable<RateLimitRequest['descriptors'][number]['limit']>, at: string): PlanLimits {
  const perMs = unitMs(limit.unit)
  if (perMs === undefined) throw new InvalidRequest(`${at}.limit.unit is not SECOND, MINUTE, HOUR, DAY, MONTH or YEAR`)
  if (limit.requests_per_unit < 1 || limit.requests_per_unit > MAX_HITS) throw new InvalidRequest(`${at}.limit.requests_per_unit must be 1 to ${MAX_HITS}`)
  const label = unitLabel(perMs)
  const windows = [{
    policy: `override-${label}`,
    scope: `${rule.scope}:override:${label}:${config.algorithm}`,
    max: limit.requests_per_unit,
    perMs,
    algorithm: config.algorithm
  }]
  return { plan: 'override', windows, policyHeader: `"override-${label}";q=${limit.requests_per_unit};w=${perMs / 1000}` }
}

function statusOf (group: Group, decision: Decision): DescriptorStatus {
  const binding = decision.binding
  const code = decision.refusal === undefined ? 'OK' : 'OVER_LIMIT'
  if (binding === undefined) return { code, limit_remaining: 0 }
  const window = group.limits.windows.find((w) => w.policy === binding.policy)
  return {
    code,
    current_limit: { name: binding.policy, ...envoyLimit(binding.max, window?.perMs ?? 1000) },
    limit_remaining: binding.remaining,
    duration_until_reset: { seconds: binding.resetSeconds, nanos: 0 }
  }
}

/**
 * The decision whose fields go to Envoy, among the rules with `headers: draft`: as the
 * proxy chooses its binding window, the refusal that keeps the client out longest, else
 * the least left.
 */
function headerDecision (groups: readonly Group[], decisions: readonly Decision[]): Decision | undefined {
  let best: Decision | undefined
  groups.forEach((group, i) => {
    const d = decisions[i]
    if (!group.headers || d === undefined) return
    if (best === undefined) {
      best = d
      return
    }
    const a = d.binding
    const b = best.binding
    if (a === undefined || b === undefined) return
    if ((d.refusal !== undefined) !== (best.refusal !== undefined)) {
      if (d.refusal !== undefined) best = d
    } else if (d.refusal !== undefined ? a.resetSeconds > b.resetSeconds : a.remaining < b.remaining || (a.remaining === b.remaining && a.resetSeconds > b.resetSeconds)) {
      best = d
    }
  })
  return best
}

function refusedBody (decision: Decision | undefined): Buffer {
  const binding = decision?.binding
  const body = decision?.refusal === 'limiter_unavailable' || binding === undefined
    ? { error: 'limiter_unavailable', message: ERRORS.limiter_unavailable.message }
    : { error: 'rate_limited', message: ERRORS.rate_limited.message, policy: binding.policy, retry_after: binding.resetSeconds }
  return Buffer.from(JSON.stringify(body))
}

/** The body of a call refused before any limit check: a banned key, or an unknown one. */
function uncheckedBody (banned: Resolution | undefined, unauthenticated: boolean): Buffer | undefined {
  if (banned?.kind === 'banned') return Buffer.from(JSON.stringify({ error: 'banned', message: ERRORS.banned.message, expires: banned.expires }))
  if (unauthenticated) return Buffer.from(JSON.stringify({ error: 'invalid_api_key', message: ERRORS.invalid_api_key.message }))
  return undefined
}

interface Resolved {
  readonly groups: Group[]
  readonly resolutions: Resolution[]
  readonly decisions: DecisionRecord[]
}

/**
 * Steps 1 and 2: match each descriptor to its domain's first fitting rule (none: OK, as
 * in envoyproxy/ratelimit), then resolve whose budget it spends; identical ones share one group.
 */
function resolve (runtime: Runtime, rls: CompiledRls, request: RateLimitRequest): Resolved {
  const { config } = runtime
  const rules = rls.domains.get(request.domain) ?? []
  const matched = request.descriptors.map((d) => rules.find((rule) => matches(rule, d.entries)))
  const replaced = new Set<string>()
  for (const rule of matched) for (const name of rule?.replaces ?? []) if (name !== rule?.name) replaced.add(name)

  const groups: Group[] = []
  const byKey = new Map<string, number>()
  const decisions: DecisionRecord[] = []
  const resolutions = request.descriptors.map((descriptor, i): Resolution => {
    const rule = matched[i]
    if (rule === undefined || rule.unlimited || (rule.name !== undefined && replaced.has(rule.name))) return { kind: 'free' }
    let owner: KeyOwner | undefined
    const parts: string[] = []
    for (const [j, want] of rule.entries.entries()) {
      const value = descriptor.entries[j]?.value ?? ''
      if (j === rule.keyAt) {
        const found = keyOwner(rls, value)
        if (found === undefined) {
          decisions.push({ client: UNKNOWN_CLIENT, plan: NO_PLAN, decision: 'unauthenticated' })
          return { kind: 'unauthenticated' }
        }
        owner = found.owner
        // A banned key refuses the call before any limit check, as on the proxy.
        const ban = runtime.controls.banOf({ client: owner.client, plan: owner.plan, subject: owner.client })
        if (ban !== undefined) {
          decisions.push({ client: owner.client, plan: owner.plan, decision: 'banned' })
          return { kind: 'banned', expires: ban.expires }
        }
        // The client's name, never the key, goes into the subject (and so into Redis).
        parts.push(encodeURIComponent(found.subject))
      } else if (want.value === undefined) {
        parts.push(encodeURIComponent(value))
      }
    }
    const plan = rule.plan ?? owner?.plan
    const limits = rls.allowOverrides && descriptor.limit !== null
      ? overrideLimits(config, rule, descriptor.limit, `descriptors[${i}]`)
      : plan === undefined ? undefined : rule.limits(plan)
    // Validation makes every rule name a plan or hold a key; a key's plan always exists.
    if (limits === undefined) return { kind: 'free' }
    const subject = parts.length === 0 ? '*' : parts.join(',')
    const key = `${subject}\n${limits.windows.map((w) => w.scope).join('\n')}`
    let index = byKey.get(key)
    if (index === undefined) {
      index = groups.push({ subject, limits, advisory: rule.shadow, client: owner?.client ?? ANONYMOUS, headers: rule.headers }) - 1
      byKey.set(key, index)
    }
    return { kind: 'group', index }
  })
  return { groups, resolutions, decisions }
}

export async function shouldRateLimit (runtime: Runtime, request: RateLimitRequest): Promise<RlsAnswer> {
  assertBounds(request)
  const { groups, resolutions, decisions } = resolve(runtime, rlsOf(runtime.config), request)

  // 3. Decide. A refused key refuses the call: nothing is spent, nothing else is asked.
  const unauthenticated = resolutions.some((r) => r.kind === 'unauthenticated')
  const banned = resolutions.find((r) => r.kind === 'banned')
  const refusedUnchecked = unauthenticated || banned !== undefined
  const outcome = refusedUnchecked || groups.length === 0
    ? { allowed: !refusedUnchecked, groups: [] }
    : await runtime.limiter.decideGroups(`rls:${request.domain}`, groups, Math.max(1, request.hits_addend))
  outcome.groups.forEach((d, i) => {
    const group = groups[i]
    if (group !== undefined) decisions.push({ client: group.client, plan: group.limits.plan, decision: d.outcome })
  })

  // 4. Answer, one status per descriptor in the request's order.
  const statuses = resolutions.map((r): DescriptorStatus => {
    if (r.kind === 'free') return OK
    if (r.kind === 'unauthenticated' || r.kind === 'banned') return { code: 'OVER_LIMIT', limit_remaining: 0 }
    const group = groups[r.index]
    const decision = outcome.groups[r.index]
    return group === undefined || decision === undefined ? OK : statusOf(group, decision)
  })
  const shown = headerDecision(groups, outcome.groups)
  const allowed = outcome.allowed
  return {
    response: {
      overall_code: allowed ? 'OK' : 'OVER_LIMIT',
      statuses,
      response_headers_to_add: shown === undefined ? [] : rateLimitFields(shown).map(([key, value]) => ({ key, value })),
      request_headers_to_add: [],
      ...(allowed ? {} : { raw_body: uncheckedBody(banned, unauthenticated) ?? refusedBody(shown?.refusal !== undefined ? shown : outcome.groups.find((d) => d.refusal !== undefined)) })
    },
    decisions
  }
}
