import { durationMs, type Config, type WindowConfig } from '../config'
import { normaliseTarget } from './path'
import type { WindowSpec } from './types'

/** A compiled `routes` entry. */
export interface RouteRule {
  /** The rule as written (`POST /v1/upload/*`): the bounded `route` label in metrics. */
  readonly label: string
  readonly limit: boolean
  readonly cost: number
  matches (method: string, path: string): boolean
}

/** Everything the limiter needs for one (plan, route) pair, computed once per config. */
export interface PlanLimits {
  readonly plan: string
  readonly windows: readonly WindowSpec[]
  /** The `RateLimit-Policy` header value: the same for every request of the pair. */
  readonly policyHeader: string
}

export interface Policy {
  /**
   * First matching rule, or undefined when none matches. `path` is the normalised
   * path (`normaliseTarget`), without its query.
   */
  route (method: string, path: string): RouteRule | undefined
  /** The windows of `plan`, plus the rule's own windows for it; undefined if no such plan. */
  limits (plan: string, rule: RouteRule | undefined): PlanLimits | undefined
}

/**
 * A rule's `match` as a test on (method, normalised path). Written so that a client
 * cannot leave a rule by respelling the same resource:
 * - the pattern is normalised like the request path (`/v1//a/%7Eb` is `/v1/a/~b`);
 * - letters match in any case: Express and ASP.NET route `/EXPENSIVE` to `/expensive`;
 * - one trailing slash is optional (`/expensive` and `/expensive/`): Express, and
 *   many frameworks with it, serve both from one route;
 * - `HEAD` matches a `GET` rule: every server answers HEAD with the GET handler.
 * Each of these makes a rule match more requests, never fewer: for a limiting rule
 * that is the safe side; for `limit: false` it exempts spellings that are the same
 * resource to such apps and a 404 to the others.
 */
function compileMatch (match: string): (method: string, path: string) => boolean {
  const space = match.lastIndexOf(' ')
  const method = space === -1 ? '*' : match.slice(0, space).trim().toUpperCase()
  const written = space === -1 ? match : match.slice(space + 1)
  const normalised = normaliseTarget(written)
  // A pattern that does not normalise (`/a/../..`) can match no normalised path as written.
  const pattern = normalised.ok ? normalised.path : written
  const bare = pattern.length > 1 && pattern.endsWith('/') ? pattern.slice(0, -1) : pattern
  const source = bare.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')
  const regex = new RegExp(bare === '/' || bare.endsWith('*') ? `^${source}$` : `^${source}/?$`, 'i')
  if (method === '*') return (_m, path) => regex.test(path)
  return (m, path) => (m === method || (m === 'HEAD' && method === 'GET')) && regex.test(path)
}

/** `1d` → 86400 for the `w` parameter, which is whole seconds. */
function windowSeconds (perMs: number): number {
  return Math.max(1, Math.ceil(perMs / 1000))
}

function toWindows (prefix: string, scope: string, configs: readonly WindowConfig[], defaultAlgorithm: Config['algorithm']): WindowSpec[] {
  const seen = new Map<string, number>()
  return configs.map((w, i) => {
    // Two windows with the same length in one plan still need distinct names.
    const count = (seen.get(w.per) ?? 0) + 1
    seen.set(w.per, count)
    const algorithm = w.algorithm ?? defaultAlgorithm
    return {
      policy: count === 1 ? `${prefix}-${w.per}` : `${prefix}-${w.per}-${count}`,
      // The algorithm is part of the scope: its state has its own shape.
      scope: `${scope}:${i}:${algorithm}`,
      max: w.max,
      perMs: durationMs(w.per),
      algorithm
    }
  })
}

function policyHeader (windows: readonly WindowSpec[]): string {
  return windows.map((w) => `"${w.policy}";q=${w.max};w=${windowSeconds(w.perMs)}`).join(', ')
}

export function compilePolicy (config: Config): Policy {
  const planWindows = new Map(Object.entries(config.plans).map(([plan, windows]) =>
    [plan, toWindows(plan, 'plan', windows, config.algorithm)]))

  const rules = config.routes.map((route) => ({
    label: route.match,
    limit: route.limit,
    cost: route.cost,
    matches: compileMatch(route.match),
    extra: new Map(Object.entries(route.plans ?? {}).map(([plan, windows]) =>
      [plan, toWindows(`${plan} ${route.match}`, `route:${route.match}`, windows, config.algorithm)]))
  }))

  const byPlan = new Map<string, PlanLimits>()
  const byRule = new Map<RouteRule, Map<string, PlanLimits>>()
  for (const [plan, windows] of planWindows) byPlan.set(plan, { plan, windows, policyHeader: policyHeader(windows) })
  for (const rule of rules) {
    const perPlan = new Map<string, PlanLimits>()
    for (const [plan, windows] of planWindows) {
      const all = [...windows, ...(rule.extra.get(plan) ?? [])]
      perPlan.set(plan, { plan, windows: all, policyHeader: policyHeader(all) })
    }
    byRule.set(rule, perPlan)
  }

  return {
    // Upper-cased for callers that pass a method from a header (the decision API): Node's
    // parser already refuses a lower-case method on the wire.
    route: (method, path) => {
      const upper = method.toUpperCase()
      return rules.find((rule) => rule.matches(upper, path))
    },
    limits: (plan, rule) => (rule === undefined ? byPlan : byRule.get(rule))?.get(plan)
  }
}

export { toWindows, policyHeader }
