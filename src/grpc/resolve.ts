import { ANONYMOUS, NO_PLAN, UNKNOWN_CLIENT } from '../config'
import { isWellFormedKey, sha256Hex, type Ban, type GroupInput, type Runtime } from '../limits'
import { addressBan, clientBan } from './bans'
import { descriptorLimits } from './limits'
import type { RateLimitRequest } from './proto'
import { matches, type CompiledRls, type CompiledRule, type KeyOwner } from './rules'

/** One `tollgate_ratelimit_decisions_total` increment. */
export interface DecisionRecord {
  readonly client: string
  readonly plan: string
  readonly decision: string
}

export interface Group extends GroupInput {
  readonly client: string
  readonly headers: boolean
}

/** Where a descriptor's budget is: nowhere (OK as it is), a refused key, a ban, or a group. */
export type Resolution =
  | { readonly kind: 'free' }
  | { readonly kind: 'unauthenticated' }
  | { readonly kind: 'banned', readonly expires: string }
  | { readonly kind: 'group', readonly index: number }

export interface Resolved {
  readonly groups: Group[]
  readonly resolutions: Resolution[]
  readonly decisions: DecisionRecord[]
}

type Descriptor = RateLimitRequest['descriptors'][number]
/** Whose key a descriptor presents: none (no `api_key` entry), refused (null), or its holder. */
type Presented = { readonly owner: KeyOwner, readonly subject: string } | null | undefined

const FREE: Resolution = { kind: 'free' }

/** The key holder an `api_key` value names; null when it is refused. */
function keyOwner (rls: CompiledRls, value: string): Presented {
  const known = isWellFormedKey(value) ? rls.keys.get(sha256Hex(value)) : undefined
  if (known !== undefined) return { owner: known, subject: known.client }
  // Every unknown key shares one budget: a client inventing keys gains nothing.
  return rls.unknownKey === undefined ? null : { owner: rls.unknownKey, subject: 'anon:unknown-key' }
}

/** Each descriptor's first fitting rule, kept only when it limits (none, `unlimited` and replaced ones are OK as they are). */
function limitingRules (rls: CompiledRls, request: RateLimitRequest): Array<CompiledRule | undefined> {
  const rules = rls.domains.get(request.domain) ?? []
  const matched = request.descriptors.map((d) => rules.find((rule) => matches(rule, d.entries)))
  const replaced = new Set<string>()
  for (const rule of matched) for (const name of rule?.replaces ?? []) if (name !== rule?.name) replaced.add(name)
  return matched.map((rule) => rule === undefined || rule.unlimited || (rule.name !== undefined && replaced.has(rule.name)) ? undefined : rule)
}

/** The subject: the rule's wildcard entries' values, with the client's name, never the key, for the `api_key` one (it goes into Redis). */
function subjectOf (rule: CompiledRule, descriptor: Descriptor, presented: Presented): string {
  const parts: string[] = []
  rule.entries.forEach((want, j) => {
    if (j === rule.keyAt) parts.push(encodeURIComponent(presented?.subject ?? ''))
    else if (want.value === undefined) parts.push(encodeURIComponent(descriptor.entries[j]?.value ?? ''))
  })
  return parts.length === 0 ? '*' : parts.join(',')
}

/**
 * Match each descriptor to its domain's first fitting rule (none: OK, as in
 * envoyproxy/ratelimit), refuse an unknown key or a banned caller, then resolve whose
 * budget each one spends; identical ones share one group. IP and CIDR bans are for
 * anonymous callers, as on the proxy: a call presenting a configured key is that
 * client's, banned by its name.
 */
export function resolve (runtime: Runtime, rls: CompiledRls, request: RateLimitRequest): Resolved {
  const rules = limitingRules(rls, request)
  const presented = rules.map((rule, i): Presented =>
    rule === undefined || rule.keyAt === -1 ? undefined : keyOwner(rls, request.descriptors[i]?.entries[rule.keyAt]?.value ?? ''))
  const anonymous = !presented.some((p) => p != null && p.owner.client !== ANONYMOUS)

  const groups: Group[] = []
  const byKey = new Map<string, number>()
  const decisions: DecisionRecord[] = []
  const resolutions = request.descriptors.map((descriptor, i): Resolution => {
    const rule = rules[i]
    const key = presented[i]
    if (rule === undefined) return FREE
    if (key === null) {
      decisions.push({ client: UNKNOWN_CLIENT, plan: NO_PLAN, decision: 'unauthenticated' })
      return { kind: 'unauthenticated' }
    }
    const owner = key?.owner
    const ban: Ban | undefined = owner !== undefined && owner.client !== ANONYMOUS
      ? clientBan(runtime, owner)
      : anonymous ? addressBan(runtime, descriptor.entries) : undefined
    if (ban !== undefined) {
      decisions.push({ client: owner?.client ?? ANONYMOUS, plan: owner?.plan ?? rule.plan ?? ANONYMOUS, decision: 'banned' })
      return { kind: 'banned', expires: ban.expires }
    }
    const limits = descriptorLimits(runtime, rls.allowOverrides, rule, descriptor, owner, `descriptors[${i}]`)
    // Validation makes every rule name a plan or hold a key; a key's plan always exists.
    if (limits === undefined) return FREE
    const subject = subjectOf(rule, descriptor, key)
    const groupKey = `${subject}\n${limits.windows.map((w) => w.scope).join('\n')}`
    let index = byKey.get(groupKey)
    if (index === undefined) {
      index = groups.push({ subject, limits, advisory: rule.shadow, client: owner?.client ?? ANONYMOUS, headers: rule.headers }) - 1
      byKey.set(groupKey, index)
    }
    return { kind: 'group', index }
  })
  return { groups, resolutions, decisions }
}
