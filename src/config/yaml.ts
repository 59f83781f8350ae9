import { isNode, isScalar, LineCounter, parseDocument, visit, type YAMLError } from 'yaml'
import { messageOf } from '../errors'

/**
 * YAML text → a plain value, or errors that each name the file (and the line and column
 * where the parser knows them). It never throws: whatever a file holds, a reload is
 * rejected like any other bad file, never the end of the process.
 */

/**
 * Aliases, counted the way yaml counts them (each use times the nodes it expands to):
 * a nine-level `&a [*a, ...]` bomb is billions of nodes, a config that shares windows
 * through anchors is a few hundred.
 */
export const MAX_ALIAS_COUNT = 1000
/** Nesting levels of the parsed value; the deepest the schema has is 7 (`rls.domains.d[0].match[0].key`). */
export const MAX_DEPTH = 32

/** A cycle (`&a [*a]`) nests without end: the same limit stops it, and the message says so. */
const TOO_DEEP = `nested more than ${MAX_DEPTH} levels deep (or an alias inside its own anchor)`

export type YamlResult = { ok: true, value: unknown } | { ok: false, errors: string[] }

function located (source: string, error: YAMLError): string {
  const at = error.linePos?.[0]
  const message = error.code === 'TAG_RESOLVE_FAILED'
    ? `the tag ${error.message.replace(/^Unresolved tag: (\S+).*$/s, '$1').replace(/^tag:yaml\.org,2002:/, '!!')} is not supported (plain YAML values only)`
    : error.message.split('\n')[0]?.replace(/ at line \d+, column \d+:?$/, '') ?? error.message
  // The parser itself recurses: a deep enough file runs it out of stack, and it says so.
  const clear = message.startsWith('Maximum call stack size exceeded') ? TOO_DEEP : message
  return at === undefined ? `${source}: ${clear}` : `${source}:${at.line}:${at.col}: ${clear}`
}

/** How deep `value` nests; walked with a queue, so a deep value cannot exhaust the stack. */
function depthOf (value: unknown): number {
  let deepest = 0
  const queue: Array<[unknown, number]> = [[value, 1]]
  for (let next = queue.pop(); next !== undefined; next = queue.pop()) {
    const [item, depth] = next
    if (item === null || typeof item !== 'object') continue
    deepest = Math.max(deepest, depth)
    if (deepest > MAX_DEPTH) return deepest
    for (const child of Object.values(item)) queue.push([child, depth + 1])
  }
  return deepest
}

export function parseYaml (text: string, source: string): YamlResult {
  // merge: `<<: *defaults` shares windows between plans, as operators know it from
  // docker-compose and Helm values; without it `<<` would be "not a known key".
  // resolveKnownTags: false: `!!binary`, `!!set` and the like become errors, not Buffers.
  // logLevel error: yaml would print its warnings on stderr, outside the JSON log.
  const lineCounter = new LineCounter()
  const document = parseDocument(text, { prettyErrors: true, uniqueKeys: true, merge: true, resolveKnownTags: false, logLevel: 'error', lineCounter })
  const problems = [...document.errors, ...document.warnings]
  if (problems.length > 0) return { ok: false, errors: problems.map((e) => located(source, e)) }
  const keyErrors: string[] = []
  let value: unknown
  try {
    visit(document, {
      Pair (_key, pair) {
        // `? [a, b]: 1`: a JS object key can only be a string; yaml would stringify it.
        if (isNode(pair.key) && !isScalar(pair.key)) {
          const at = pair.key.range == null ? undefined : lineCounter.linePos(pair.key.range[0])
          keyErrors.push(`${source}${at === undefined ? '' : `:${at.line}:${at.col}`}: a key must be a plain name, not a list or a mapping`)
        }
      }
    })
    if (keyErrors.length > 0) return { ok: false, errors: keyErrors }
    value = document.toJS({ maxAliasCount: MAX_ALIAS_COUNT })
  } catch (error) {
    // visit and toJS recurse too; toJS also throws on an alias bomb, an alias before its
    // anchor and a merge of a scalar.
    const message = messageOf(error)
    if (message.startsWith('Excessive alias count')) return { ok: false, errors: [`${source}: too many aliases (more than ${MAX_ALIAS_COUNT} nodes expanded through * references)`] }
    if (error instanceof RangeError) return { ok: false, errors: [`${source}: ${TOO_DEEP}`] }
    return { ok: false, errors: [`${source}: ${message}`] }
  }
  if (depthOf(value) > MAX_DEPTH) return { ok: false, errors: [`${source}: ${TOO_DEEP}`] }
  return { ok: true, value }
}
