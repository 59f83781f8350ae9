import { isDeepStrictEqual } from 'node:util'
import type { Config } from './schema'

/** What a reload changes, by name only: never key material. */
export interface ConfigChanges {
  readonly plans: Changes
  /** Keys by `name`; a changed digest or plan is `changed`. */
  readonly keys: Changes
  /** Routes by `match`. */
  readonly routes: Changes
  /** Other top-level settings whose value changed (`log_level`, `redis`, ...). */
  readonly settings: readonly string[]
}

export interface Changes {
  readonly added: readonly string[]
  readonly removed: readonly string[]
  readonly changed: readonly string[]
}

/** Top-level settings a running process cannot take: they need a restart. */
export const RESTART_ONLY = ['listen', 'upstream'] as const

function byName<T> (entries: Iterable<[string, T]>): Map<string, T> {
  return new Map(entries)
}

function compare<T> (before: Map<string, T>, after: Map<string, T>): Changes {
  return {
    added: [...after.keys()].filter((name) => !before.has(name)),
    removed: [...before.keys()].filter((name) => !after.has(name)),
    changed: [...after.keys()].filter((name) => before.has(name) && !isDeepStrictEqual(before.get(name), after.get(name)))
  }
}

export function diffConfig (before: Config, after: Config): ConfigChanges {
  const sections = new Set(['plans', 'keys', 'routes'])
  const settings = [...new Set([...Object.keys(before), ...Object.keys(after)])]
    .filter((key) => !sections.has(key) && !isDeepStrictEqual(before[key as keyof Config], after[key as keyof Config]))
  return {
    plans: compare(byName(Object.entries(before.plans)), byName(Object.entries(after.plans))),
    keys: compare(byName(before.keys.map((k) => [k.name, k])), byName(after.keys.map((k) => [k.name, k]))),
    routes: compare(byName(before.routes.map((r) => [r.match, r])), byName(after.routes.map((r) => [r.match, r]))),
    settings
  }
}

export function isEmptyChange (changes: ConfigChanges): boolean {
  const none = (c: Changes): boolean => c.added.length + c.removed.length + c.changed.length === 0
  return none(changes.plans) && none(changes.keys) && none(changes.routes) && changes.settings.length === 0
}
