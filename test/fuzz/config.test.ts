import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { Kind } from '@sinclair/typebox'
import fc from 'fast-check'
import t from 'tap'
import { stringify } from 'yaml'
import { ConfigSchema, loadConfigFile, parseConfig, type LoadResult } from '../../src/config'
import { formatPath } from '../../src/config/error-path'
import { parseYaml } from '../../src/config/yaml'
import { CASE_MS, fuzzRuns } from './runs'

/*
 * Issue 13, fuzzing: the config loader never throws, never hangs, and every rejection is
 * a list of errors that each start with a path in the document (`plans.free[0].max: ...`)
 * or name the file. Whatever reaches it (a reload of a half-written file, a hostile
 * ConfigMap) is a bad file like any other, never the end of the process.
 */

const SOURCE = 'fuzz.yml'
const VALID = {
  plans: { free: [{ max: 5, per: '1s' }], anonymous: [{ max: 10, per: '1m', algorithm: 'fixed' }] },
  keys: [{ name: 'acme', key: 'acme-key', plan: 'free' }],
  routes: [{ match: 'GET /expensive', cost: 2, plans: { free: [{ max: 1, per: '10s' }] } }],
  upstream: { url: 'http://127.0.0.1:3000', timeout: '5s' }
}

type Segment = string | number

/** The part of a JSON schema node the walk reads; TypeBox schemas (all of which carry a Kind) are such nodes. */
interface SchemaNode {
  readonly [Kind]?: string
  readonly type?: string | readonly string[]
  readonly properties?: Readonly<Record<string, SchemaNode>>
  readonly patternProperties?: Readonly<Record<string, SchemaNode>>
  readonly items?: SchemaNode
  readonly anyOf?: readonly SchemaNode[]
  readonly const?: unknown
}

/** A name for a map entry (a plan, an rls domain) that its pattern accepts. */
function sampleName (pattern: string): string {
  const name = ['free', 'edge', 'a'].find((candidate) => new RegExp(pattern).test(candidate))
  if (name === undefined) throw new Error(`no sample name fits ${pattern}`)
  return name
}

interface KnownKey { readonly path: Segment[], readonly types: ReadonlySet<string> }

/** Every key of the schema with the JSON types it accepts; a new key is covered without a line here. */
function knownKeys (node: SchemaNode, path: Segment[] = [], out: KnownKey[] = []): KnownKey[] {
  if (path.length > 0) out.push({ path, types: typesOf(node) })
  for (const branch of node.anyOf ?? []) knownKeys(branch, path, []).slice(1).forEach((key) => out.push(key))
  for (const [name, child] of Object.entries(node.properties ?? {})) knownKeys(child, [...path, name], out)
  for (const [pattern, child] of Object.entries(node.patternProperties ?? {})) knownKeys(child, [...path, sampleName(pattern)], out)
  if (node.items !== undefined) knownKeys(node.items, [...path, 0], out)
  return out
}

function typesOf (node: SchemaNode): Set<string> {
  const types = new Set<string>()
  for (const type of typeof node.type === 'string' ? [node.type] : node.type ?? []) types.add(type)
  for (const branch of node.anyOf ?? []) for (const type of typesOf(branch)) types.add(type)
  return types
}

const jsonType = (value: unknown): string =>
  value === null ? 'null' : Array.isArray(value) ? 'array' : Number.isInteger(value) ? 'integer' : typeof value

const accepts = (types: ReadonlySet<string>, value: unknown): boolean => {
  const type = jsonType(value)
  return types.has(type) || (type === 'integer' && types.has('number'))
}

/** One value of each JSON type, and the odd ones of each. */
const WRONG_VALUES: readonly unknown[] = [
  'x', '', '\u0000\u202e☃', 'a'.repeat(2000), 0, -1, 2 ** 53 + 2, 1e300, 1.5, -0.25, Infinity, -Infinity, NaN,
  true, false, null, [], [1, 'a'], [[[]]], {}, { a: 1 }
]

const SCHEMA_KEYS = knownKeys(ConfigSchema)
const SCHEMA_NAMES = new Set(SCHEMA_KEYS.map((key) => key.path.at(-1)).filter((name) => typeof name === 'string'))

/** `document` with `value` at `path`, the sections on the way created where missing. */
function withValue (document: unknown, path: readonly Segment[], value: unknown): unknown {
  const [head, ...rest] = path
  if (head === undefined) return value
  if (typeof head === 'number') {
    const list: unknown[] = Array.isArray(document) ? [...document] : []
    list[head] = withValue(list[head], rest, value)
    return list
  }
  const record: Record<string, unknown> = isRecord(document) ? { ...document } : {}
  return { ...record, [head]: withValue(record[head], rest, value) }
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value)

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
function timedParse (text: string): LoadResult {
  const started = performance.now()
  const result = parseConfig(text, {}, SOURCE)
  const ms = performance.now() - started
  if (ms > CASE_MS) throw new Error(`parseConfig took ${Math.round(ms)} ms`)
  return result
}

/** Throws, with the offending line, unless every error names the file or starts with a path. */
function assertClearErrors (result: LoadResult, text: string, source = SOURCE): void {
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

const holdsFor = (text: string): boolean => {
  assertClearErrors(timedParse(text), text)
  return true
}

/** A YAML rendering of any value; stringify's own limits are not the loader's. */
const render = (value: unknown): string => stringify(value, { aliasDuplicateObjects: false }) ?? ''
const show = (value: unknown): string => render(value).trim().slice(0, 40)

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

t.test('random JSON values rendered as YAML', async () => {
  fc.assert(fc.property(fc.jsonValue(), (value) => holdsFor(render(value))), { numRuns: fuzzRuns(500) })
})

t.test('random values of any kind (maps, sets, dates, big integers, null prototypes) rendered as YAML', async () => {
  const anything = fc.anything({ withBigInt: true, withMap: true, withSet: true, withDate: true, withNullPrototype: true, withObjectString: true, withBoxedValues: true, withSparseArray: true, maxDepth: 5 })
  fc.assert(fc.property(anything, (value) => holdsFor(render(value))), { numRuns: fuzzRuns(500) })
})

t.test('random documents with random unicode keys and values, under plans and at the top', async () => {
  const unicode = fc.string({ unit: 'binary', maxLength: 40 })
  const document = fc.dictionary(unicode, fc.oneof(unicode, fc.dictionary(unicode, unicode, { maxKeys: 4 }), fc.array(unicode, { maxLength: 4 })), { maxKeys: 6 })
  fc.assert(fc.property(document, document, (top, plans) => holdsFor(render({ ...VALID, ...top, plans: { ...VALID.plans, ...plans } }))),
    { numRuns: fuzzRuns(500) })
})

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

t.test('huge, negative and odd numbers at every numeric key, and huge durations at every duration', async () => {
  const number = fc.oneof(fc.constantFrom('1e400', '-1e400', '.inf', '-.inf', '.nan', '0x7fffffffffffffffff', '0o777777777777777777777', '-0', '1e-400',
    '9007199254740993', '1_000', '+5', '0b101'), fc.bigInt({ min: -(10n ** 60n), max: 10n ** 60n }).map(String), fc.double().map(String))
  const duration = fc.tuple(fc.oneof(fc.bigInt({ min: 0n, max: 10n ** 40n }).map(String), fc.constantFrom('0', '00', '-1', '1e3', '2147483648')),
    fc.constantFrom('ms', 's', 'm', 'h', 'd', '')).map(([amount, unit]) => amount + unit)
  const text = fc.tuple(number, number, number, duration, duration, duration).map(([max, cost, inflight, per, grace, timeout]) => [
    'plans:', `  free: [ { max: ${max}, per: ${per} } ]`, `routes: [ { match: "GET /x", cost: ${cost} } ]`,
    `max_checks_in_flight: ${inflight}`, `shutdown: { grace: ${grace}, drain_delay: ${per} }`,
    `upstream: { url: "http://127.0.0.1:1", timeout: ${timeout} }`, `redis: { url: "redis://127.0.0.1:1", timeout: ${timeout} }`,
    `server: { max_connections: ${max}, headers_timeout: ${grace} }`, ''].join('\n'))
  fc.assert(fc.property(text, holdsFor), { numRuns: fuzzRuns(500) })
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
