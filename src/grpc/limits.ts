import { ANONYMOUS, type Config } from '../config'
import { limitsOnce, policyHeader, toWindows, type Override, type PlanLimits, type Runtime } from '../limits'
import { InvalidRequest, MAX_HITS } from './bounds'
import type { RateLimitRequest } from './proto'
import type { CompiledRule, KeyOwner } from './rules'
import { unitLabel, unitMs } from './units'

type Descriptor = RateLimitRequest['descriptors'][number]

/** The window Envoy's `limit` override asks for, in the rule's scope, keyed by its unit (never its count). */
function envoyLimits (config: Config, rule: CompiledRule, limit: NonNullable<Descriptor['limit']>, at: string): PlanLimits {
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

/**
 * The operator's override in the rule's scope, as the proxy applies it
 * (limits/override-limits.ts): `plan` takes that plan's windows (a plan a reload removed
 * since: undefined, and the client's own applies); `windows` replace the plan's, in the
 * plan windows' state by position, so what was spent still counts.
 */
function overridden (runtime: Runtime, rule: CompiledRule, owner: KeyOwner, override: Override): PlanLimits | undefined {
  return limitsOnce(override, rule, () => {
    if (override.plan !== undefined) return rule.limits(override.plan)
    if (override.windows === undefined) return undefined
    const windows = toWindows('override', `${rule.scope}:plan`, override.windows, runtime.config.algorithm)
    return { plan: owner.plan, windows, policyHeader: policyHeader(windows) }
  })
}

/**
 * The limits one descriptor is checked against: Envoy's own `limit` when the config
 * allows it; the rule's `plan` (a budget the operator wrote for this rule, which an
 * override of the client does not replace); else the key holder's override or plan.
 * Undefined: nothing limits it.
 */
export function descriptorLimits (runtime: Runtime, allowOverrides: boolean, rule: CompiledRule, descriptor: Descriptor, owner: KeyOwner | undefined, at: string): PlanLimits | undefined {
  if (allowOverrides && descriptor.limit !== null) return envoyLimits(runtime.config, rule, descriptor.limit, at)
  if (rule.plan !== undefined) return rule.limits(rule.plan)
  if (owner === undefined) return undefined
  const own = rule.limits(owner.plan)
  const override = owner.client === ANONYMOUS ? undefined : runtime.controls.overrideOf(owner.client)
  return override === undefined ? own : overridden(runtime, rule, owner, override) ?? own
}
