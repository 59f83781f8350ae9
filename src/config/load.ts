import { createHash } from 'node:crypto'
import type { Config } from './schema'
import { readConfigText } from './read'
import { routeWarnings } from './route-validate'
import { formatPath } from './error-path'
import { errorPath, validateConfig } from './validate'
import { parseYaml } from './yaml'

export type LoadResult =
  | { ok: true, config: Config, hash: string, warnings: string[] }
  | { ok: false, errors: string[], hash?: string }

type Env = Readonly<Record<string, string | undefined>>

/** Replaces `${NAME}` in every string value; an unset variable is an error naming it. */
function expandEnv (value: unknown, env: Env, path: Array<string | number>, errors: string[]): unknown {
  if (typeof value === 'string') {
    return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_whole, name: string) => {
      const found = env[name]
      if (found === undefined) {
        errors.push(`${formatPath(path)}: environment variable ${name} is not set`)
        return ''
      }
      return found
    })
  }
  if (Array.isArray(value)) return value.map((item, i) => expandEnv(item, env, [...path, i], errors))
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, expandEnv(v, env, [...path, k], errors)]))
  }
  return value
}

/** `upstream: URL` and `redis: URL` are short for `{ url: URL }`. */
function expandShorthands (document: Record<string, unknown>): void {
  for (const key of ['upstream', 'redis']) {
    if (typeof document[key] === 'string') document[key] = { url: document[key] }
  }
}

function clearKeyWarnings (config: Config): string[] {
  return config.keys
    .filter((key) => key.key !== undefined)
    .map((key) => `key "${key.name}" is in clear text in the config; store its sha256 instead (tollgate hash-key)`)
}

/** Short content hash of a config file's text: names the config in force, dedupes reloads. */
export function textHash (text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 12)
}

/** Parses and validates config text; `source` names the file in error messages. */
export function parseConfig (text: string, env: Env, source = 'config.yml'): LoadResult {
  const parsed = parseYaml(text, source)
  if (!parsed.ok) return { ok: false, errors: parsed.errors }
  const raw = parsed.value
  if (raw === null || raw === undefined) {
    // An editor's in-place write is briefly seen empty; that must never mean "no keys".
    return { ok: false, errors: [`${source}: the file is empty`] }
  }
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    return { ok: false, errors: [`${source}: must be a mapping of settings, got ${Array.isArray(raw) ? 'a list' : typeof raw}`] }
  }
  expandShorthands(raw as Record<string, unknown>)
  const envErrors: string[] = []
  const expanded = expandEnv(raw, env, [], envErrors)
  const validation = validateConfig(expanded)
  if (validation.ok && envErrors.length === 0) {
    const hash = textHash(text)
    return { ok: true, config: validation.config, hash, warnings: [...clearKeyWarnings(validation.config), ...routeWarnings(validation.config)] }
  }
  // A value left empty by a missing variable would only repeat the same error, at its
  // own path or, for a union such as `trust_proxy`, at the path of a value holding it.
  const envPaths = envErrors.map(errorPath)
  const repeats = (path: string): boolean =>
    envPaths.some((p) => p === path || p.startsWith(`${path}.`) || p.startsWith(`${path}[`))
  const schemaErrors = validation.ok ? [] : validation.errors.filter((e) => !repeats(errorPath(e)))
  return { ok: false, errors: [...envErrors, ...schemaErrors] }
}

export async function loadConfigFile (path: string, env: Env): Promise<LoadResult> {
  const read = await readConfigText(path)
  if (!read.ok) return { ok: false, errors: [read.error] }
  const result = parseConfig(read.text, env, path)
  return result.ok ? result : { ...result, hash: textHash(read.text) }
}
