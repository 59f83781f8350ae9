import type { Config } from './schema'

/**
 * Pieces of check-config's summary that grow with the file: a config with 1,000 keys must
 * still read as a summary, counts first, lines of at most WIDTH columns.
 */

const WIDTH = 100
/** Keys named one by one up to this many; past it only their counts per plan. */
export const KEYS_LISTED = 20

/** `items` joined with `, `, wrapped at WIDTH, each line starting with `indent`. */
export function wrap (items: readonly string[], indent: string): string[] {
  const lines: string[] = []
  let line = ''
  for (const [i, item] of items.entries()) {
    const piece = i < items.length - 1 ? `${item},` : item
    if (line !== '' && indent.length + line.length + 1 + piece.length > WIDTH) {
      lines.push(indent + line)
      line = piece
    } else {
      line = line === '' ? piece : `${line} ${piece}`
    }
  }
  if (line !== '') lines.push(indent + line)
  return lines
}

/** `keys:     1000 (free 400, pro 600)`, then the names when there are few. */
export function keysSummary (keys: Config['keys']): string[] {
  if (keys.length === 0) return ['  keys:     (none)']
  const perPlan = new Map<string, number>()
  for (const key of keys) perPlan.set(key.plan, (perPlan.get(key.plan) ?? 0) + 1)
  const counts = [...perPlan].sort(([a], [b]) => a.localeCompare(b)).map(([plan, n]) => `${plan} ${n}`).join(', ')
  const head = `  keys:     ${keys.length} (${counts})`
  if (keys.length > KEYS_LISTED) return [head]
  return [head, ...wrap(keys.map((k) => `${k.name} (${k.plan})`), '    ')]
}
