import { Kind } from '@sinclair/typebox'
import { stringify } from 'yaml'
import { ConfigSchema } from '../../src/config'

// Shared by the test/fuzz/config-*.test.ts files: the schema's keys found by a walk of
// ConfigSchema, values of the wrong type for them, and documents built around them.

export const VALID = {
  plans: { free: [{ max: 5, per: '1s' }], anonymous: [{ max: 10, per: '1m', algorithm: 'fixed' }] },
  keys: [{ name: 'acme', key: 'acme-key', plan: 'free' }],
  routes: [{ match: 'GET /expensive', cost: 2, plans: { free: [{ max: 1, per: '10s' }] } }],
  upstream: { url: 'http://127.0.0.1:3000', timeout: '5s' }
}

export type Segment = string | number

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

export const accepts = (types: ReadonlySet<string>, value: unknown): boolean => {
  const type = jsonType(value)
  return types.has(type) || (type === 'integer' && types.has('number'))
}

/** One value of each JSON type, and the odd ones of each. */
export const WRONG_VALUES: readonly unknown[] = [
  'x', '', '\u0000\u202e☃', 'a'.repeat(2000), 0, -1, 2 ** 53 + 2, 1e300, 1.5, -0.25, Infinity, -Infinity, NaN,
  true, false, null, [], [1, 'a'], [[[]]], {}, { a: 1 }
]

export const SCHEMA_KEYS = knownKeys(ConfigSchema)
export const SCHEMA_NAMES = new Set(SCHEMA_KEYS.map((key) => key.path.at(-1)).filter((name) => typeof name === 'string'))

/** `document` with `value` at `path`, the sections on the way created where missing. */
export function withValue (document: unknown, path: readonly Segment[], value: unknown): unknown {
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

/** A YAML rendering of any value; stringify's own limits are not the loader's. */
export const render = (value: unknown): string => stringify(value, { aliasDuplicateObjects: false }) ?? ''
export const show = (value: unknown): string => render(value).trim().slice(0, 40)
