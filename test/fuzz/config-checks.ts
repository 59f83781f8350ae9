import { performance } from 'node:perf_hooks'
import { parseConfig, type LoadResult } from '../../src/config'
import { formatPath } from '../../src/config/error-path'
import { parseYaml } from '../../src/config/yaml'
import { SCHEMA_NAMES, type Segment } from './config-walk'
import { CASE_MS } from './runs'

// Shared by the test/fuzz/config-*.test.ts files: what every rejection must look like:
// each error names the file or starts with a path of the document, no stack, no hang.

const SOURCE = 'fuzz.yml'

/** Every path in a parsed document, formatted the way errors name them. */
function documentPaths (value: unknown, path: Segment[] = [], out = new Set<string>()): Set<string> {
  out.add(formatPath(path))
  if (Array.isArray(value)) value.forEach((item: unknown, i) => documentPaths(item, [...path, i], out))
  else if (value !== null && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) documentPaths(item, [...path, key], out)
  }
  return out
}

/** The paths of the parsed text, where an error may start. */
function pathsOf (text: string): Set<string> {
  const parsed = parseYaml(text, SOURCE)
  return documentPaths(parsed.ok ? parsed.value : undefined)
}

/** Whether `line` starts with a path of the document, or with a key of the schema missing below one. */
function startsWithPath (line: string, paths: ReadonlySet<string>): boolean {
  for (const path of paths) {
    if (line.startsWith(`${path}: `) && line.length > path.length + 2) return true
    const below = path === '(top level)' ? '' : `${path}.`
    if (!line.startsWith(below)) continue
    const missing = /^([A-Za-z_]+): \S/.exec(line.slice(below.length))?.[1]
    if (missing !== undefined && SCHEMA_NAMES.has(missing)) return true
  }
  return false
}

/** Parses with a stopwatch: a case that takes longer than CASE_MS is a hang. */
export function timedParse (text: string): LoadResult {
  const started = performance.now()
  const result = parseConfig(text, {}, SOURCE)
  const ms = performance.now() - started
  if (ms > CASE_MS) throw new Error(`parseConfig took ${Math.round(ms)} ms`)
  return result
}

/** Throws, with the offending line, unless every error names the file or starts with a path. */
export function assertClearErrors (result: LoadResult, text: string, source = SOURCE): void {
  if (result.ok) return
  if (result.errors.length === 0) throw new Error('rejected with no error')
  let paths: Set<string> | undefined
  for (const line of result.errors) {
    if (line.startsWith(`${source}: `) || new RegExp(`^${escape(source)}:\\d+:\\d+: \\S`).test(line)) continue
    paths ??= pathsOf(text)
    if (!startsWithPath(line, paths)) throw new Error(`an error that neither names the file nor starts with a path: ${JSON.stringify(line)}`)
    if (/\n\s+at /.test(line)) throw new Error(`a stack trace in an error: ${JSON.stringify(line)}`)
  }
}

const escape = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

export const holdsFor = (text: string): boolean => {
  assertClearErrors(timedParse(text), text)
  return true
}
