import fc from 'fast-check'
import t from 'tap'
import { formatPath } from '../../src/config/error-path'
import { assertClearErrors, holdsFor, timedParse } from './config-checks'
import { accepts, render, SCHEMA_KEYS, show, VALID, WRONG_VALUES, withValue } from './config-walk'
import { fuzzRuns } from './runs'

/*
 * Issue 13, fuzzing: the config loader never throws, never hangs, and every rejection is
 * a list of errors that each start with a path in the document (`plans.free[0].max: ...`)
 * or name the file. Whatever reaches it (a reload of a half-written file, a hostile
 * ConfigMap) is a bad file like any other, never the end of the process.
 * Here: every key of the schema, with wrong and random values.
 */

t.test('the walk finds the schema\'s keys, down to the deepest', async (t) => {
  const paths = SCHEMA_KEYS.map((key) => formatPath(key.path))
  for (const expected of ['plans.free[0].max', 'routes[0].plans.free[0].per', 'redis.sentinels[0]', 'rls.domains.free[0].match[0].key', 'server.max_connections']) {
    t.ok(paths.includes(expected), expected)
  }
  t.ok(SCHEMA_KEYS.length > 50, `${SCHEMA_KEYS.length} keys`)
})

t.test('every known key with a value of every wrong type: rejected, at that key or above it', async (t) => {
  let cases = 0
  for (const { path, types } of SCHEMA_KEYS) {
    for (const value of WRONG_VALUES.filter((v) => !accepts(types, v))) {
      const text = render(withValue(VALID, path, value))
      const result = timedParse(text)
      const at = formatPath(path)
      if (result.ok) {
        t.fail(`${at} = ${show(value)}: accepted`)
        continue
      }
      assertClearErrors(result, text)
      const named = result.errors.some((line) => {
        const before = line.slice(0, line.indexOf(': '))
        // Above it (a union, a section), or below it where a shorthand (`upstream: URL`) was expanded.
        return before === at || at.startsWith(`${before}.`) || at.startsWith(`${before}[`) || before.startsWith(`${at}.`)
      })
      if (!named) t.fail(`${at} = ${show(value)}: no error names it: ${result.errors.join(' | ').slice(0, 300)}`)
      cases++
    }
  }
  t.ok(cases > 500, `${cases} cases`)
})

t.test('a random value at a known key', async () => {
  fc.assert(fc.property(fc.constantFrom(...SCHEMA_KEYS), fc.jsonValue({ maxDepth: 4 }), ({ path }, value) =>
    holdsFor(render(withValue(VALID, path, value)))), { numRuns: fuzzRuns(500) })
})
