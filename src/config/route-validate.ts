import { METHODS } from 'node:http'
import { formatPath } from './error-path'
import type { Config } from './schema'

/**
 * What the schema cannot say about `routes`. Runs on the document as written, before the
 * schema fills in defaults: `limit: false` with a `cost` is only an error when the cost
 * was written. What is malformed is skipped: the schema names it.
 */

type Loose = Record<string, unknown>
const isRecord = (value: unknown): value is Loose =>
  value !== null && typeof value === 'object' && !Array.isArray(value)
const listOf = (value: unknown): unknown[] => Array.isArray(value) ? value : []

/**
 * Node's HTTP parser answers 400 to any other method, so a rule for one (`FETCH /x`)
 * could never match: it is a typo, and the request it meant goes unlimited.
 */
const KNOWN_METHODS: ReadonlySet<string> = new Set(METHODS)

function methodError (match: unknown, at: string): string | undefined {
  if (typeof match !== 'string') return undefined
  const space = match.indexOf(' ')
  const method = space === -1 ? '*' : match.slice(0, space).toUpperCase()
  return method === '*' || KNOWN_METHODS.has(method) || !/^[A-Z]+$/.test(method)
    ? undefined
    : `${at}.match: "${match.slice(0, space)}" is not an HTTP method (GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS, ... or *)`
}

interface Smallest { readonly max: number, readonly at: string }

/** The window with the least `max` of a plan's windows and a route's own for that plan. */
function smallest (windows: ReadonlyArray<[unknown, string]>): Smallest | undefined {
  let least: Smallest | undefined
  for (const [list, at] of windows) {
    listOf(list).forEach((w, i) => {
      const max = isRecord(w) ? w.max : undefined
      // A max below 1 is the schema's to report.
      if (typeof max === 'number' && Number.isInteger(max) && max >= 1 && (least === undefined || max < least.max)) least = { max, at: `${at}[${i}].max` }
    })
  }
  return least
}

/**
 * The plans whose clients a route's cost can never admit: every window must allow, so a
 * cost above any one window's max is refused whatever was spent, with a Retry-After that
 * promises what never comes.
 */
function blockedPlans (route: Loose, plans: Loose, at: string): Array<Smallest & { plan: string }> {
  const cost = route.cost ?? 1
  if (typeof cost !== 'number' || !Number.isInteger(cost)) return []
  const own = isRecord(route.plans) ? route.plans : {}
  return Object.entries(plans).flatMap(([plan, windows]) => {
    const least = smallest([[windows, formatPath(['plans', plan])], [own[plan], `${at}.${formatPath(['plans', plan])}`]])
    return least !== undefined && cost > least.max ? [{ plan, ...least }] : []
  })
}

/** A route whose cost some plans (not all) can never pay: said at load, not refused. */
export function routeWarnings (config: Config): string[] {
  return config.routes.flatMap((route, i) => route.limit
    ? blockedPlans(route, config.plans, `routes[${i}]`).map((b) =>
      `routes[${i}] ("${route.match}"): cost ${route.cost} is more than ${b.at} (${b.max}): clients on plan ${b.plan} are always refused there`)
    : [])
}

export function routeChecks (document: unknown): string[] {
  if (!isRecord(document)) return []
  const plans = isRecord(document.plans) ? document.plans : {}
  const errors: string[] = []
  listOf(document.routes).forEach((route, i) => {
    if (!isRecord(route)) return
    const at = `routes[${i}]`
    const method = methodError(route.match, at)
    if (method !== undefined) errors.push(method)
    if (route.limit === false) {
      // Nothing is counted on such a route: a cost or windows would silently do nothing.
      for (const field of ['cost', 'plans']) {
        if (route[field] !== undefined) errors.push(`${at}.${field}: has no effect with limit: false (nothing is counted on this route)`)
      }
      return
    }
    const blocked = blockedPlans(route, plans, at)
    // Refused for every plan: the route is dead. For some plans only, it may be meant
    // (uploads are for paying plans) and is a warning, see routeWarnings.
    if (blocked.length > 0 && blocked.length === Object.keys(plans).length) {
      errors.push(`${at}.cost: ${String(route.cost)} is more than ${blocked.map((b) => `${b.at} (${b.max})`).join(', ')}: no client could ever be admitted on this route`)
    }
  })
  return errors
}
