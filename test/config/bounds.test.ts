import t from 'tap'
import { durationMs, parseConfig } from '../../src/config'
import { MAX_TIMER_MS } from '../../src/config/bounds'
import { ConfigSchema } from '../../src/config/schema'

// Issue 9, finding 3: every number and every duration of the schema has the bounds its
// consumer can honour, is accepted at them and refused one past them, with an error that
// names its path and the bound. The fields are found by walking the schema, so a field
// added without bounds, or missing from FULL below, fails here.

/** Every section and list of the schema, once, each numeric field and duration set. */
const FULL = {
  listen: { proxy: '127.0.0.1:0', admin: '127.0.0.1:0', grpc: '127.0.0.1:0' },
  upstream: { url: 'http://127.0.0.1:3000', timeout: '30s' },
  upstream_health: { path: '/healthz', interval: '5s', timeout: '1s' },
  redis: { url: 'redis://127.0.0.1:6379', timeout: '250ms' },
  max_checks_in_flight: 1000,
  access_log: 0.5,
  // One plan whose windows all allow the most a cost may be: no cross-check interferes.
  plans: { p: [{ max: 1_000_000_000, per: '1s' }] },
  keys: [{ name: 'acme', sha256: 'a'.repeat(64), plan: 'p' }],
  routes: [{ match: 'POST /x', cost: 1, plans: { p: [{ max: 1_000_000_000, per: '1m' }] } }],
  rls: { domains: { edge: [{ match: [{ key: 'api_key' }] }] } },
  decision: { deny_status: 429 },
  server: { headers_timeout: '10s', request_timeout: '0s', keep_alive_timeout: '72s', max_connections: 10000 },
  shutdown: { grace: '30s', drain_delay: '5s' }
}

type Segment = string | number
interface Field { readonly path: Segment[], readonly schema: Record<string, unknown> }

/** Each numeric or duration schema node, at the path it takes in FULL. */
function fields (schema: Record<string, unknown>, value: unknown, path: Segment[], found: Field[], missing: string[]): void {
  const types = [schema.type].flat()
  if (types.includes('integer') || types.includes('number') || schema.format === 'duration') {
    found.push({ path, schema })
    return
  }
  for (const branch of (schema.anyOf as Array<Record<string, unknown>> | undefined) ?? []) fields(branch, value, path, found, missing)
  const properties = schema.properties as Record<string, Record<string, unknown>> | undefined
  for (const [key, child] of Object.entries(properties ?? {})) {
    const next = (value as Record<string, unknown> | undefined)?.[key]
    if (next === undefined) {
      if (holdsBounded(child)) missing.push([...path, key].join('.'))
      continue
    }
    fields(child, next, [...path, key], found, missing)
  }
  const items = schema.items as Record<string, unknown> | undefined
  if (items !== undefined && Array.isArray(value)) fields(items, value[0], [...path, 0], found, missing)
  const patterns = schema.patternProperties as Record<string, Record<string, unknown>> | undefined
  const [first] = Object.keys((value as Record<string, unknown> | undefined) ?? {})
  for (const child of Object.values(patterns ?? {})) {
    if (first !== undefined) fields(child, (value as Record<string, unknown>)[first], [...path, first], found, missing)
  }
}

/** Whether a schema has a numeric field or a duration anywhere below it. */
function holdsBounded (schema: unknown): boolean {
  if (schema === null || typeof schema !== 'object') return false
  const s = schema as Record<string, unknown>
  const types = [s.type].flat()
  if (types.includes('integer') || types.includes('number') || s.format === 'duration') return true
  return Object.values(s).some(holdsBounded)
}

const display = (path: Segment[]): string => path.map((s, i) => typeof s === 'number' ? `[${s}]` : i === 0 ? s : `.${s}`).join('')

function withValue (path: Segment[], value: unknown): unknown {
  const copy = structuredClone(FULL) as Record<string, unknown>
  let at: Record<string | number, unknown> = copy
  path.slice(0, -1).forEach((segment) => { at = at[segment] as Record<string | number, unknown> })
  at[path[path.length - 1] ?? ''] = value
  return copy
}

function errorsFor (document: unknown): string[] {
  // Through the YAML loader, as a file would come: JSON is YAML.
  const result = parseConfig(JSON.stringify(document), {}, 'bounds.yml')
  return result.ok ? [] : result.errors
}

const found: Field[] = []
const missing: string[] = []
fields(ConfigSchema as unknown as Record<string, unknown>, FULL, [], found, missing)

t.test('FULL is a valid config holding every bounded field of the schema', async (t) => {
  t.strictSame(errorsFor(FULL), [])
  t.strictSame(missing, [], 'no numeric field or duration is left out of FULL')
  t.ok(found.length >= 11, `found ${found.length} fields: ${found.map((f) => display(f.path)).join(', ')}`)
})

for (const { path, schema } of found) {
  const name = display(path)
  t.test(name, async (t) => {
    if (schema.format === 'duration') {
      const { minDuration: min, maxDuration: max } = schema as { minDuration?: string, maxDuration?: string }
      if (typeof min !== 'string' || typeof max !== 'string') {
        t.fail(`${name} has no minDuration and maxDuration`)
        return
      }
      // A window's `per` is arithmetic in the stores; every other duration is a timer's delay.
      if (!path.includes('plans')) t.ok(durationMs(max) <= MAX_TIMER_MS, `${max} fits in a Node timer`)
      t.strictSame(errorsFor(withValue(path, min)), [], `${min} (the least) is accepted`)
      t.strictSame(errorsFor(withValue(path, max)), [], `${max} (the most) is accepted`)
      const above = `${durationMs(max) + 1}ms`
      t.strictSame(errorsFor(withValue(path, above)), [`${name}: "${above}" must be at most ${max}`])
      t.strictSame(errorsFor(withValue(path, '99999999999999999999d')), [`${name}: "99999999999999999999d" must be at most ${max}`], 'a number too big for a double')
      if (durationMs(min) > 0) {
        const below = `${durationMs(min) - 1}ms`
        t.strictSame(errorsFor(withValue(path, below)), [`${name}: "${below}" must be at least ${min}`])
      }
      return
    }
    const { minimum: min, maximum: max } = schema as { minimum?: number, maximum?: number }
    if (typeof min !== 'number' || typeof max !== 'number') {
      t.fail(`${name} has no minimum and maximum`)
      return
    }
    t.strictSame(errorsFor(withValue(path, min)), [], `${min} (the least) is accepted`)
    t.strictSame(errorsFor(withValue(path, max)), [], `${max} (the most) is accepted`)
    t.strictSame(errorsFor(withValue(path, min - 1)), [`${name}: ${min - 1} must be at least ${min}`])
    t.strictSame(errorsFor(withValue(path, max + 1)), [`${name}: ${max + 1} must be at most ${max}`])
  })
}

t.test('drain_delay and grace together fit in the one shutdown timer', async (t) => {
  const shutdown = ConfigSchema.properties.shutdown.properties
  const most = durationMs(String(shutdown.grace.maxDuration)) + durationMs(String(shutdown.drain_delay.maxDuration))
  t.ok(most <= MAX_TIMER_MS, `${most} ms`)
})
