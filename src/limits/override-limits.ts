import type { Override } from './controls-types'
import { policyHeader, toWindows, type PlanLimits, type RouteRule } from './policy'
import type { Runtime } from './runtime'

/** An override's limits per route rule (or per policy, without one): built once per override object and snapshot. */
const compiled = new WeakMap<Override, WeakMap<object, PlanLimits | undefined>>()

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
  let perRule = compiled.get(override)
  if (perRule === undefined) {
    perRule = new WeakMap()
    compiled.set(override, perRule)
  }
  const key = rule ?? runtime.policy
  if (perRule.has(key)) return perRule.get(key) ?? own
  const limits = build(runtime, override, plan, rule, own)
  perRule.set(key, limits)
  return limits ?? own
}

function build (runtime: Runtime, override: Override, plan: string, rule: RouteRule | undefined, own: PlanLimits | undefined): PlanLimits | undefined {
  if (override.plan !== undefined) return runtime.policy.limits(override.plan, rule)
  if (override.windows === undefined || own === undefined) return undefined
  const planOnly = runtime.policy.limits(plan, undefined)?.windows.length ?? 0
  const windows = [...toWindows('override', 'plan', override.windows, runtime.config.algorithm), ...own.windows.slice(planOnly)]
  return { plan, windows, policyHeader: policyHeader(windows) }
}
