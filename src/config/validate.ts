import { createHash } from 'node:crypto'
import proxyAddr from '@fastify/proxy-addr'
import Ajv, { type ErrorObject } from 'ajv'
import { listenChecks } from './listen-validate'
import { redisChecks } from './redis-validate'
import { rlsChecks } from './rls-validate'
import { adminChecks } from './schema-admin'
import { routeChecks } from './route-validate'
import { durationMs } from './bounds'
import { formatPath } from './error-path'
import { ConfigSchema, DURATION_PATTERN, type Config } from './schema'
import { serverChecks } from './server-validate'
import { ANONYMOUS, UNKNOWN_CLIENT } from './vocabulary'

const DURATION = new RegExp(DURATION_PATTERN)
const ajv = new Ajv({ allErrors: true, useDefaults: true, verbose: true, strict: true, allowUnionTypes: true })
// TypeBox marks schemas with symbol keys Ajv never sees; `errorMessage` is our own
// annotation for the message of a pattern or union failure.
ajv.addKeyword({ keyword: 'errorMessage', schemaType: 'string' })
ajv.addKeyword({ keyword: 'secret', schemaType: 'boolean' })
ajv.addFormat('duration', new RegExp(DURATION_PATTERN))
// A value that is no duration fails `format` and is skipped here.
const durationBound = (keyword: string, holds: (ms: number, bound: number) => boolean): void => {
  ajv.addKeyword({
    keyword,
    type: 'string',
    schemaType: 'string',
    validate: (bound: string, data: string) => !DURATION.test(data) || holds(durationMs(data), durationMs(bound))
  })
}
durationBound('minDuration', (ms, bound) => ms >= bound)
durationBound('maxDuration', (ms, bound) => ms <= bound)
const validateSchema = ajv.compile<Config>(ConfigSchema)

/**
 * Another schema of ours (the admin API's bodies) checked with the same keywords and
 * the same messages as the config: every error at once, as `path: message`.
 */
export function compileChecker<T> (schema: object): (data: unknown) => { ok: true, value: T } | { ok: false, errors: string[] } {
  const check = ajv.compile<T>(schema)
  return (data) => check(data) ? { ok: true, value: data } : { ok: false, errors: schemaErrors(check.errors ?? []) }
}

function pointerSegments (pointer: string): string[] {
  return pointer === '' ? [] : pointer.slice(1).split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
}

function show (value: unknown): string {
  // JSON has no Infinity: `1e400` would be shown as null.
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value)
  return JSON.stringify(value) ?? String(value)
}

/** A value the schema marks `secret` (a clear key, a Redis URL with its password) is never quoted. */
function shown (error: ErrorObject): string {
  return (error.parentSchema as { secret?: boolean } | undefined)?.secret === true ? '(value hidden)' : show(error.data)
}

const NOT_A_DURATION = 'is not a duration (an integer with ms, s, m, h or d: 500ms, 30s, 5m, 1d)'

function describe (error: ErrorObject): string {
  const parent = error.parentSchema as { errorMessage?: string, format?: string, anyOf?: Array<{ const?: unknown }> } | undefined
  switch (error.keyword) {
    case 'additionalProperties': {
      // A map of names (plans, rls domains): the key is there, its name is wrong.
      const names = (parent as { patternProperties?: Record<string, unknown> } | undefined)?.patternProperties
      return names === undefined ? 'is not a known key' : `is not a valid name (it must match ${Object.keys(names).join(' or ')})`
    }
    case 'required':
      return 'is required'
    case 'minimum':
    case 'minDuration':
      return `${shown(error)} must be at least ${String(error.schema)}`
    case 'maximum':
    case 'maxDuration':
      return `${shown(error)} must be at most ${String(error.schema)}`
    case 'format':
      return error.params.format === 'duration'
        ? `${shown(error)} ${NOT_A_DURATION}`
        : `${shown(error)} ${error.message ?? 'is invalid'}`
    case 'type':
      // YAML reads `per: 10` as a number: say what is wrong, not "must be string".
      if (parent?.format === 'duration') return `${shown(error)} ${NOT_A_DURATION}`
      // A field of several types (`access_log`) says them in words, not "must be boolean,number".
      if (Array.isArray(error.schema) && parent?.errorMessage !== undefined) return `${shown(error)} ${parent.errorMessage}`
      return `${shown(error)} ${error.message ?? 'is invalid'}`
    case 'anyOf': {
      const choices = parent?.anyOf?.map((branch) => branch.const)
      if (choices !== undefined && choices.every((c) => typeof c === 'string')) {
        return `${shown(error)} must be one of ${choices.join(', ')}`
      }
      return `${shown(error)} ${parent?.errorMessage ?? 'has the wrong type'}`
    }
    default:
      if (parent?.errorMessage !== undefined && error.keyword === 'pattern') return `${shown(error)} ${parent.errorMessage}`
      return `${shown(error)} ${error.message ?? 'is invalid'}`
  }
}

function schemaErrors (errors: ErrorObject[]): string[] {
  // A union reports one error per branch plus its own; keep only the union's.
  const unions = errors.filter((e) => e.keyword === 'anyOf').map((e) => e.schemaPath + '/')
  const kept = errors.filter((e) => !unions.some((prefix) => e.schemaPath.startsWith(prefix)))
  const lines = kept.map((error) => {
    const segments = pointerSegments(error.instancePath)
    if (error.keyword === 'additionalProperties') segments.push(String(error.params.additionalProperty))
    if (error.keyword === 'required') segments.push(String(error.params.missingProperty))
    return `${formatPath(segments)}: ${describe(error)}`
  })
  return [...new Set(lines)]
}

type Loose = Record<string, unknown>

const isRecord = (value: unknown): value is Loose =>
  value !== null && typeof value === 'object' && !Array.isArray(value)
const listOf = (value: unknown): unknown[] => Array.isArray(value) ? value : []
const stringAt = (value: unknown, key: string): string | undefined => {
  const found = isRecord(value) ? value[key] : undefined
  return typeof found === 'string' ? found : undefined
}
const SHA256 = /^[0-9a-fA-F]{64}$/

/** Each key names a known plan, exactly one of sha256 or key, and a name and a key no other entry has. */
function keyChecks (keys: unknown, plans: Set<string> | undefined): string[] {
  const errors: string[] = []
  const names = new Set<string>()
  const digests = new Set<string>()
  listOf(keys).forEach((key, i) => {
    if (!isRecord(key)) return
    const at = `keys[${i}]`
    const name = stringAt(key, 'name')
    const plan = stringAt(key, 'plan')
    if (plans !== undefined && plan !== undefined && !plans.has(plan)) errors.push(`${at}.plan: "${plan}" is not a plan in plans (${[...plans].join(', ')})`)
    if ((key.sha256 === undefined) === (key.key === undefined)) errors.push(`${at}: needs exactly one of sha256 or key`)
    if (name !== undefined) {
      if (names.has(name)) errors.push(`${at}.name: "${name}" is used by another key`)
      names.add(name)
      if (name === ANONYMOUS || name === UNKNOWN_CLIENT) errors.push(`${at}.name: "${name}" is reserved`)
    }
    // A clear key and the sha256 of the same key collide just like two digests do:
    // the caller would silently be whichever entry came last.
    const sha256 = stringAt(key, 'sha256')
    const clear = stringAt(key, 'key')
    const [field, digest] = sha256 !== undefined && SHA256.test(sha256)
      ? ['sha256', sha256.toLowerCase()]
      : ['key', clear === undefined ? undefined : createHash('sha256').update(clear).digest('hex')]
    if (digest !== undefined) {
      if (digests.has(digest)) errors.push(`${at}.${field}: the same key is listed twice`)
      digests.add(digest)
    }
  })
  return errors
}

/**
 * What a JSON schema cannot say: references between sections and unique names. It
 * runs even when the schema failed, so that one pass reports every error; what is
 * malformed is skipped here, the schema already named it.
 */
function crossChecks (document: unknown): string[] {
  if (!isRecord(document)) return []
  const errors: string[] = []
  // Without a usable `plans` every reference would be reported as unknown: noise.
  const plans = isRecord(document.plans) ? new Set(Object.keys(document.plans)) : undefined
  errors.push(...keyChecks(document.keys, plans))
  listOf(document.routes).forEach((route, i) => {
    const extra = isRecord(route) ? route.plans : undefined
    if (plans !== undefined && isRecord(extra)) {
      for (const plan of Object.keys(extra)) {
        if (!plans.has(plan)) errors.push(`${formatPath(['routes', i, 'plans', plan])}: "${plan}" is not a plan in plans`)
      }
    }
  })
  // The pattern allows five digits; listen() would throw on the rest, after check-config said OK.
  errors.push(...listenChecks(document.listen))
  // The schema only knows "a list of strings"; proxy-addr decides what it accepts, and
  // would otherwise throw when the config is applied, after check-config said OK.
  listOf(document.trust_proxy).forEach((entry, i) => {
    if (typeof entry !== 'string' || entry === '') return
    try {
      proxyAddr.compile(entry)
    } catch {
      errors.push(`trust_proxy[${i}]: "${entry}" is not an IP address, a CIDR range, loopback, linklocal or uniquelocal`)
    }
  })
  // Without an upstream the proxy listener is the decision API: a second one would
  // answer the same questions on another port.
  if (stringAt(document.listen, 'decision') !== undefined && isRecord(document) && document.upstream === undefined) {
    errors.push('listen.decision: needs an upstream; without one, listen.proxy serves the decision API')
  }
  errors.push(...rlsChecks(document, plans))
  errors.push(...serverChecks(document.server))
  errors.push(...redisChecks(document.redis))
  errors.push(...adminChecks(document.admin))
  return errors
}

/** The path an error line names: `plans.free[1].per: ...` → `plans.free[1].per`. */
export function errorPath (line: string): string {
  return line.slice(0, line.indexOf(': '))
}

export type Validation = { ok: true, config: Config } | { ok: false, errors: string[] }

/** Validates (and fills defaults into) a parsed document; reports every error at once. */
export function validateConfig (document: unknown): Validation {
  // Before the schema fills in defaults: these checks need what the file says.
  const written = routeChecks(document)
  const valid = validateSchema(document)
  const shapeErrors = valid ? [] : schemaErrors(validateSchema.errors ?? [])
  const reported = new Set(shapeErrors.map(errorPath))
  const errors = [...shapeErrors, ...[...written, ...crossChecks(document)].filter((e) => !reported.has(errorPath(e)))]
  return valid && errors.length === 0 ? { ok: true, config: document } : { ok: false, errors }
}
