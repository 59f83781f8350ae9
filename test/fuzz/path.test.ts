import fc from 'fast-check'
import t from 'tap'
import { normaliseTarget } from '../../src/limits/path'
import { fuzzRuns } from './runs'
import { anyTarget, spellingOf } from './targets'

/*
 * Issue 13, fuzzing: normaliseTarget, the one place where a request target becomes the
 * path a rule is matched on and the app is sent. What it accepts it must leave in a form
 * it would itself leave alone; otherwise the proxy and the app (or two passes of ours)
 * read one target as two paths.
 */

/** An escape of `A-Z a-z 0-9 - . _ ~`: normalisation decodes every one of them. */
const ENCODED_UNRESERVED = /%(4[1-9A-F]|5[0-9A]|6[1-9A-F]|7[0-9A]|3[0-9]|2D|2E|5F|7E)/i

/** Throws unless `path` is in the normal form: no dot segment, no empty segment, nothing left to decode. */
function assertNormal (path: string, target: string): void {
  const where = `${JSON.stringify(target)} → ${JSON.stringify(path)}`
  if (!path.startsWith('/')) throw new Error(`not a path: ${where}`)
  for (const bad of ['/./', '/../', '//']) if (path.includes(bad)) throw new Error(`${bad} left in ${where}`)
  if (path.endsWith('/.') || path.endsWith('/..')) throw new Error(`a dot segment left at the end of ${where}`)
  if (ENCODED_UNRESERVED.test(path)) throw new Error(`an encoded unreserved character left in ${where}`)
  if (/[^\x21-\x7e]/.test(path)) throw new Error(`a control, space or non-ASCII character left in ${where}`)
  if (/%(?![0-9A-F]{2})/.test(path)) throw new Error(`an escape that is not two upper-case hex digits in ${where}`)
}

const target = fc.oneof(anyTarget, spellingOf('/expensive').map((s) => s.target), spellingOf('/upload/a/b').map((s) => s.target))

t.test('what it accepts is in the normal form, and normalising it again changes nothing', async () => {
  fc.assert(fc.property(target, (raw) => {
    const first = normaliseTarget(raw)
    if (!first.ok) {
      if (first.reason === '') throw new Error(`refused without a reason: ${JSON.stringify(raw)}`)
      return
    }
    assertNormal(first.path, raw)
    const again = normaliseTarget(first.path + first.query)
    if (!again.ok) throw new Error(`${JSON.stringify(first.path + first.query)} (from ${JSON.stringify(raw)}) is refused the second time: ${again.reason}`)
    if (again.path !== first.path || again.query !== first.query) {
      throw new Error(`not idempotent: ${JSON.stringify(raw)} → ${JSON.stringify(first.path)} → ${JSON.stringify(again.path)}`)
    }
  }), { numRuns: fuzzRuns(20000) })
})

t.test('every spelling of a path normalises to that path, with its query kept as sent', async () => {
  for (const path of ['/expensive', '/upload/a/b', '/v1/search']) {
    fc.assert(fc.property(spellingOf(path), ({ target, query }) => {
      const result = normaliseTarget(target)
      if (!result.ok) throw new Error(`${JSON.stringify(target)} refused: ${result.reason}`)
      if (result.path.toLowerCase() !== path || result.query !== query) {
        throw new Error(`${JSON.stringify(target)} → ${JSON.stringify(result.path + result.query)}, not ${path}${query}`)
      }
    }), { numRuns: fuzzRuns(5000) })
  }
})
