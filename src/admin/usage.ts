import type { Config } from '../config'
import { TollgateError } from '../errors'
import { limitsFor, policyHeader, toWindows, type PlanLimits, type Runtime } from '../limits'

/** One window of a client's usage, exact: the store's own arithmetic, nothing spent. */
export interface WindowUsage {
  readonly policy: string
  readonly max: number
  readonly used: number
  readonly remaining: number
  /** Whole seconds until the window is back to its full budget. */
  readonly reset: number
}

export interface ClientUsage {
  readonly client: string
  readonly plan: string
  /** Set when an override chooses the limits. */
  readonly override?: { readonly plan?: string, readonly expires?: string }
  readonly windows: readonly WindowUsage[]
}

/**
 * Every window a client is held to: its plan's (or its override's), and the windows
 * each route rule adds for its plan, each once. Route windows are named and scoped as
 * policy.ts names them (the same `toWindows`), so they read the very state requests spend.
 */
function allWindows (runtime: Runtime, client: string, plan: string): PlanLimits | undefined {
  const base = limitsFor(runtime, client, plan, undefined)
  if (base === undefined) return undefined
  const { config } = runtime
  const seen = new Set(base.windows.map((w) => w.scope))
  const windows = [...base.windows]
  for (const route of config.routes) {
    // An override's plan brings that plan's route windows, as on a request.
    const extra = route.limit === false ? undefined : route.plans?.[base.plan]
    if (extra === undefined) continue
    for (const w of toWindows(`${base.plan} ${route.match}`, `route:${route.match}`, extra, config.algorithm)) {
      if (!seen.has(w.scope)) windows.push(w)
      seen.add(w.scope)
    }
  }
  return { plan, windows, policyHeader: policyHeader(windows) }
}

export function clientPlan (config: Config, client: string): string {
  const key = config.keys.find((k) => k.name === client)
  if (key === undefined) throw new TollgateError('not_found', { client }, `No key is named "${client}" in the config.`)
  return key.plan
}

/**
 * A client's usage by a dry run of cost 0 over all its windows at once: the stores
 * evaluate it exactly as a request, write nothing, and every window allows, so each
 * reports what is left now (a window already past its max reports 0 left and the time
 * until it is back under it). 503 when the store cannot answer: a guess is no usage.
 */
export async function clientUsage (runtime: Runtime, client: string): Promise<ClientUsage> {
  const plan = clientPlan(runtime.config, client)
  const limits = allWindows(runtime, client, plan)
  if (limits === undefined) throw new TollgateError('internal_error')
  const decision = await runtime.limiter.decide(client, limits, 0, true)
  // `rate_limited` is an answer: a window spent past its max (a lowered limit, an expired
  // override) refuses even a cost of 0. Anything else means the store could not say.
  if (decision.outcome === 'degraded' || (decision.refusal !== undefined && decision.refusal !== 'rate_limited') || decision.windows === undefined) {
    throw new TollgateError('limiter_unavailable')
  }
  const override = runtime.controls.overrideOf(client)
  const windows = decision.windows.map((answer, i) => {
    const spec = limits.windows[i]
    const max = spec?.max ?? 0
    return { policy: spec?.policy ?? '', max, used: Math.max(0, max - answer.remaining), remaining: answer.remaining, reset: Math.ceil(answer.resetMs / 1000) }
  })
  return {
    client,
    plan,
    ...(override === undefined ? {} : { override: { plan: override.plan, expires: override.expires } }),
    windows
  }
}

/** How full a client's fullest window is, 0 to 1. */
export function fullness (usage: ClientUsage): number {
  return Math.max(0, ...usage.windows.map((w) => w.max === 0 ? 0 : w.used / w.max))
}
