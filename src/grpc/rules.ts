import { ANONYMOUS, API_KEY_ENTRY, type Config } from '../config'
import { policyHeader, sha256Hex, toWindows, type PlanLimits } from '../limits'

/**
 * The `rls` section compiled once per config snapshot: per domain its rules in order,
 * each with its windows for every plan it can apply, and the key lookup that `api_key`
 * entries use.
 */

export interface CompiledRule {
  /** `edge[1]`: names the rule in logs. */
  readonly at: string
  readonly entries: ReadonlyArray<{ readonly key: string, readonly value?: string }>
  /** Position of the `api_key` entry, -1 when none. */
  readonly keyAt: number
  readonly plan?: string
  readonly unlimited: boolean
  readonly shadow: boolean
  /** Whether its RateLimit fields go to Envoy (`headers: draft`). */
  readonly headers: boolean
  readonly name?: string
  readonly replaces: readonly string[]
  /**
   * Where its state lives under the subject: from the rule's entries, not its position,
   * so inserting a rule above it keeps what it spent.
   */
  readonly scope: string
  /** The windows of `plan` in this rule's scope; undefined for an unknown plan. */
  limits (plan: string): PlanLimits | undefined
}

export interface KeyOwner {
  readonly client: string
  readonly plan: string
}

export interface CompiledRls {
  readonly allowOverrides: boolean
  readonly domains: ReadonlyMap<string, readonly CompiledRule[]>
  /** sha256 hex of a key → who holds it. */
  readonly keys: ReadonlyMap<string, KeyOwner>
  /** What an unknown key counts as; undefined: it is refused. */
  readonly unknownKey?: KeyOwner
}

/** Escapes `,`, `=` and `:` (and everything odd), so no two entry lists spell one scope. */
const part = (text: string): string => encodeURIComponent(text)

function compileRule (config: Config, domain: string, index: number, rule: NonNullable<Config['rls']>['domains'][string][number]): CompiledRule {
  const scope = `rls:${rule.match.map((e) => e.value === undefined ? part(e.key) : `${part(e.key)}=${part(e.value)}`).join(',')}`
  const byPlan = new Map<string, PlanLimits>()
  for (const [plan, windows] of Object.entries(config.plans)) {
    // The plan's own policy names (`free-1s`), so Envoy's clients read the same
    // RateLimit-Policy as the proxy's; the state is this rule's.
    const specs = toWindows(plan, `${scope}:plan`, windows, config.algorithm)
    byPlan.set(plan, { plan, windows: specs, policyHeader: policyHeader(specs) })
  }
  return {
    at: `${domain}[${index}]`,
    entries: rule.match,
    keyAt: rule.match.findIndex((e) => e.key === API_KEY_ENTRY && e.value === undefined),
    plan: rule.plan,
    unlimited: rule.unlimited,
    shadow: rule.shadow,
    headers: rule.headers === 'draft',
    name: rule.name,
    replaces: rule.replaces ?? [],
    scope,
    limits: (plan) => byPlan.get(plan)
  }
}

function compile (config: Config): CompiledRls {
  const domains = new Map<string, readonly CompiledRule[]>()
  for (const [domain, rules] of Object.entries(config.rls?.domains ?? {})) {
    domains.set(domain, rules.map((rule, i) => compileRule(config, domain, i, rule)))
  }
  const keys = new Map<string, KeyOwner>()
  for (const key of config.keys) {
    keys.set(key.sha256?.toLowerCase() ?? sha256Hex(key.key ?? ''), { client: key.name, plan: key.plan })
  }
  const anonymous = config.api_key.unknown === ANONYMOUS && config.plans[ANONYMOUS] !== undefined
  return {
    allowOverrides: config.rls?.allow_overrides ?? false,
    domains,
    keys,
    unknownKey: anonymous ? { client: ANONYMOUS, plan: ANONYMOUS } : undefined
  }
}

const compiled = new WeakMap<Config, CompiledRls>()

/** The compiled `rls` of a config snapshot: built on first use, kept as long as the snapshot. */
export function rlsOf (config: Config): CompiledRls {
  let rls = compiled.get(config)
  if (rls === undefined) {
    rls = compile(config)
    compiled.set(config, rls)
  }
  return rls
}

/** Whether a descriptor's entries are the rule's: same count, same keys in order, equal values where the rule gives one. */
export function matches (rule: CompiledRule, entries: ReadonlyArray<{ readonly key: string, readonly value: string }>): boolean {
  if (entries.length !== rule.entries.length) return false
  return rule.entries.every((want, i) => {
    const got = entries[i]
    return got !== undefined && got.key === want.key && (want.value === undefined || got.value === want.value)
  })
}
