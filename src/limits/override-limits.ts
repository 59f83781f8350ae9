import type { Override } from './controls-types'
import { policyHeader, toWindows, type PlanLimits, type RouteRule } from './policy'
import type { Runtime } from './runtime'

/** An override's limits per rule object: built once per override object and snapshot. */
const compiled = new WeakMap<Override, WeakMap<object, PlanLimits | undefined>>()

/**
 * The limits `build` makes of an override on one rule, built once: the proxy keys them
 * by its route rule (or the policy, without one), gRPC by its compiled rule. Both die
 * with the override object or the snapshot that holds the rule.
 */
export function limitsOnce (override: Override, rule: object, build: () => PlanLimits | undefined): PlanLimits | undefined {
  let perRule = compiled.get(override)
  if (perRule === undefined) {
    perRule = new WeakMap()
    compiled.set(override, perRule)
  }
  if (perRule.has(rule)) return perRule.get(rule)
  const limits = build()
  perRule.set(rule, limits)
  return limits
}

/**
 * The limits a client is held to on a rule: its plan's, or its override's. An override
 * `plan` takes that plan's windows and its route windows (a plan removed by a reload
 * since: the client's own plan applies). Override `windows` replace the plan's windows
 * and keep the rule's route windows of the client's own plan; their state is the plan
 * windows' (`plan:<i>`), so what was spent still counts, as when a plan's max is raised.
 */
export function limitsFor (runtime: Runtime, client: string, plan: string, rule: RouteRule | undefined): PlanLimits | undefined {
  const own = runtime.policy.limits(plan, rule)
  const override = runtime.controls.overrideOf(client)
  if (override === undefined) return own
  return limitsOnce(override, rule ?? runtime.policy, () => build(runtime, override, plan, rule, own)) ?? own
}

function build (runtime: Runtime, override: Override, plan: string, rule: RouteRule | undefined, own: PlanLimits | undefined): PlanLimits | undefined {
  if (override.plan !== undefined) return runtime.policy.limits(override.plan, rule)
  if (override.windows === undefined || own === undefined) return undefined
  const planOnly = runtime.policy.limits(plan, undefined)?.windows.length ?? 0
  const windows = [...toWindows('override', 'plan', override.windows, runtime.config.algorithm), ...own.windows.slice(planOnly)]
  return { plan, windows, policyHeader: policyHeader(windows) }
}
