import { formatPath } from './error-path'
import { API_KEY_ENTRY } from './schema-rls'

/**
 * What the `rls` schema cannot say: plans that exist, a rule that knows whose budget it
 * spends, `replaces` naming rules of its domain (listen.grpc is checked with the other
 * listeners, in listen-validate.ts).
 * Like the other cross-checks it skips what is malformed (the schema named it).
 */

type Loose = Record<string, unknown>
const isRecord = (value: unknown): value is Loose =>
  value !== null && typeof value === 'object' && !Array.isArray(value)
const listOf = (value: unknown): unknown[] => Array.isArray(value) ? value : []

function ruleChecks (rule: Loose, at: string, plans: ReadonlySet<string> | undefined, names: ReadonlySet<string>): string[] {
  const errors: string[] = []
  const entries = listOf(rule.match).filter(isRecord)
  const keyEntries = entries.filter((e) => e.key === API_KEY_ENTRY)
  keyEntries.forEach((entry) => {
    if (entry.value !== undefined) errors.push(`${at}.match: an ${API_KEY_ENTRY} entry takes no value (a key must not sit in the file; list it under keys)`)
  })
  if (keyEntries.length > 1) errors.push(`${at}.match: at most one ${API_KEY_ENTRY} entry`)
  const plan = typeof rule.plan === 'string' ? rule.plan : undefined
  if (rule.unlimited === true) {
    if (plan !== undefined) errors.push(`${at}: unlimited and plan exclude each other`)
  } else if (plan === undefined && keyEntries.length === 0) {
    errors.push(`${at}: needs a plan (or an ${API_KEY_ENTRY} entry, whose client's plan applies, or unlimited: true)`)
  }
  if (plan !== undefined && plans !== undefined && !plans.has(plan)) {
    errors.push(`${at}.plan: "${plan}" is not a plan in plans (${[...plans].join(', ')})`)
  }
  listOf(rule.replaces).forEach((name, i) => {
    if (typeof name === 'string' && !names.has(name)) errors.push(`${at}.replaces[${i}]: "${name}" is not the name of a rule in this domain`)
  })
  return errors
}

/** A rule's `match` as one string: two rules with the same one leave the second unreachable. */
function matchSignature (rule: Loose): string {
  return JSON.stringify(listOf(rule.match).map((e) => isRecord(e) ? [e.key, e.value ?? null] : null))
}

export function rlsChecks (document: Loose, plans: ReadonlySet<string> | undefined): string[] {
  const errors: string[] = []
  const rls = document.rls
  if (!isRecord(rls) || !isRecord(rls.domains)) return errors
  for (const [domain, rules] of Object.entries(rls.domains)) {
    const list = listOf(rules)
    const names = new Set<string>()
    list.forEach((rule, i) => {
      if (!isRecord(rule) || typeof rule.name !== 'string') return
      if (names.has(rule.name)) errors.push(`${formatPath(['rls', 'domains', domain, i, 'name'])}: "${rule.name}" is used by another rule of ${domain}`)
      names.add(rule.name)
    })
    const signatures = new Map<string, number>()
    list.forEach((rule, i) => {
      if (!isRecord(rule)) return
      const at = formatPath(['rls', 'domains', domain, i])
      errors.push(...ruleChecks(rule, at, plans, names))
      const signature = matchSignature(rule)
      const first = signatures.get(signature)
      if (first !== undefined) errors.push(`${at}.match: the same as ${formatPath(['rls', 'domains', domain, first, 'match'])}, which always applies first`)
      else signatures.set(signature, i)
    })
  }
  return errors
}
