import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import fc from 'fast-check'
import t from 'tap'
import { loadConfigFile } from '../../src/config'
import { assertClearErrors, holdsFor } from './config-checks'
import { render, VALID } from './config-walk'
import { CASE_MS, fuzzRuns } from './runs'

/*
 * Issue 13, fuzzing: the config loader never throws, never hangs, and every rejection is
 * a list of errors that each start with a path in the document (`plans.free[0].max: ...`)
 * or name the file. Whatever reaches it (a reload of a half-written file, a hostile
 * ConfigMap) is a bad file like any other, never the end of the process.
 * Here: random text and bytes: token soup, deep nesting, and files of random bytes.
 */

/** Fragments that steer random text into YAML's corners: flow collections, anchors, tags, merges, block scalars, env references. */
const YAML_TOKENS = ['{', '}', '[', ']', ': ', ':', ', ', '- ', '\n', '\n  ', '\n    ', '  ', '#', '"', '\'', '&a ', '*a', '!!str ', '!!binary ', '!x ',
  '<<: ', '? ', '|', '>-', '---\n', '...\n', '%YAML 1.2\n', '\t', '\r', '\u0000', '\ufeff', '☃', '\ud800', '${X}', '${', '1e400', '-.inf', '0x1F', '9'.repeat(30),
  'plans', 'free', 'max', 'per', '1s', 'keys', 'routes', 'match', 'GET /x', 'redis', 'upstream', 'listen', 'trust_proxy', 'rls', 'domains', 'server']

t.test('random text: raw unicode, and token soup of YAML syntax and config keys', async () => {
  const soup = fc.array(fc.constantFrom(...YAML_TOKENS), { maxLength: 60 }).map((tokens) => tokens.join(''))
  const text = fc.oneof(fc.string({ unit: 'binary', maxLength: 200 }), fc.string({ unit: 'grapheme', maxLength: 200 }), soup,
    soup.map((tail) => `${render(VALID)}${tail}`))
  fc.assert(fc.property(text, holdsFor), { numRuns: fuzzRuns(1000) })
})

t.test('deep nesting, in every YAML form, at the top and under a key', async () => {
  const forms: Array<(depth: number) => string> = [
    (depth) => '['.repeat(depth) + ']'.repeat(depth),
    (depth) => '{a: '.repeat(depth) + '1' + '}'.repeat(depth),
    (depth) => '['.repeat(depth),
    (depth) => Array.from({ length: depth }, (_, i) => `${' '.repeat(i)}a:\n`).join(''),
    (depth) => Array.from({ length: depth }, (_, i) => `${' '.repeat(2 * i)}- `).join('') + '1\n',
    (depth) => `${render(VALID)}shadow: ${'['.repeat(depth)}${']'.repeat(depth)}\n`,
    (depth) => `${render(VALID)}keys: ${'[{a: '.repeat(depth)}`
  ]
  fc.assert(fc.property(fc.constantFrom(...forms), fc.integer({ min: 1, max: 3000 }), (form, depth) => holdsFor(form(depth))),
    { numRuns: fuzzRuns(100) })
})

t.test('loadConfigFile on random bytes: every error names the file or starts with a path', async (t) => {
  const dir = t.testdir({})
  const bytes = fc.oneof(fc.uint8Array({ maxLength: 400 }),
    fc.string({ unit: 'binary', maxLength: 200 }).map((text) => Buffer.from(`\ufeff${render(VALID)}${text}`)),
    fc.jsonValue().map((value) => Buffer.from(render(value), 'utf16le')))
  let n = 0
  await fc.assert(fc.asyncProperty(bytes, async (content) => {
    const file = join(dir, `case-${n++}.yml`)
    await writeFile(file, content)
    const started = performance.now()
    const result = await loadConfigFile(file, {})
    if (performance.now() - started > CASE_MS) throw new Error('loadConfigFile hung')
    assertClearErrors(result, Buffer.from(content).toString('utf8'), file)
  }), { numRuns: fuzzRuns(300) })
})
