import Ajv, { type ErrorObject } from 'ajv'
import { ConfigSchema, DURATION_PATTERN, durationMs, type Config } from './schema'

const ajv = new Ajv({ allErrors: true, useDefaults: true, verbose: true, strict: true, allowUnionTypes: true })
// TypeBox marks schemas with symbol keys Ajv never sees; `errorMessage` is our own
// annotation for the message of a pattern or union failure.
ajv.addKeyword({ keyword: 'errorMessage', schemaType: 'string' })
ajv.addFormat('duration', new RegExp(DURATION_PATTERN))
const validateSchema = ajv.compile<Config>(ConfigSchema)

/** `/plans/free/1/per` → `plans.free[1].per` */
export function formatPath (segments: ReadonlyArray<string | number>): string {
  let out = ''
  for (const segment of segments) {
    if (typeof segment === 'number' || /^[0-9]+$/.test(segment)) out += `[${segment}]`
    else out += out === '' ? segment : `.${segment}`
  }
  return out === '' ? '(top level)' : out
}

function pointerSegments (pointer: string): string[] {
  return pointer === '' ? [] : pointer.slice(1).split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
}

function show (value: unknown): string {
  return JSON.stringify(value) ?? String(value)
}

function describe (error: ErrorObject): string {
  const parent = error.parentSchema as { errorMessage?: string, anyOf?: Array<{ const?: unknown }> } | undefined
  switch (error.keyword) {
    case 'additionalProperties':
      return 'is not a known key'
    case 'required':
      return 'is required'
    case 'format':
      return error.params.format === 'duration'
        ? `${show(error.data)} is not a duration (an integer with ms, s, m, h or d: 500ms, 30s, 5m, 1d)`
        : `${show(error.data)} ${error.message ?? 'is invalid'}`
    case 'anyOf': {
      const choices = parent?.anyOf?.map((branch) => branch.const)
      if (choices !== undefined && choices.every((c) => typeof c === 'string')) {
        return `${show(error.data)} must be one of ${choices.join(', ')}`
      }
      return `${show(error.data)} ${parent?.errorMessage ?? 'has the wrong type'}`
    }
    default:
      if (parent?.errorMessage !== undefined && error.keyword === 'pattern') return `${show(error.data)} ${parent.errorMessage}`
      return `${show(error.data)} ${error.message ?? 'is invalid'}`
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

/** What a JSON schema cannot say: references between sections and unique names. */
function crossChecks (config: Config): string[] {
  const errors: string[] = []
  const plans = new Set(Object.keys(config.plans))
  for (const [plan, windows] of Object.entries(config.plans)) {
    windows.forEach((w, i) => { if (durationMs(w.per) === 0) errors.push(`plans.${plan}[${i}].per: "${w.per}" must be more than zero`) })
  }
  const names = new Set<string>()
  const digests = new Set<string>()
  config.keys.forEach((key, i) => {
    const at = `keys[${i}]`
    if (!plans.has(key.plan)) errors.push(`${at}.plan: "${key.plan}" is not a plan in plans (${[...plans].join(', ')})`)
    if ((key.sha256 === undefined) === (key.key === undefined)) errors.push(`${at}: needs exactly one of sha256 or key`)
    if (names.has(key.name)) errors.push(`${at}.name: "${key.name}" is used by another key`)
    names.add(key.name)
    if (key.name === 'anonymous' || key.name === 'unknown') errors.push(`${at}.name: "${key.name}" is reserved`)
    const digest = key.sha256?.toLowerCase()
    if (digest !== undefined) {
      if (digests.has(digest)) errors.push(`${at}.sha256: the same key is listed twice`)
      digests.add(digest)
    }
  })
  config.routes.forEach((route, i) => {
    for (const [plan, windows] of Object.entries(route.plans ?? {})) {
      if (!plans.has(plan)) errors.push(`routes[${i}].plans.${plan}: "${plan}" is not a plan in plans`)
      windows.forEach((w, j) => { if (durationMs(w.per) === 0) errors.push(`routes[${i}].plans.${plan}[${j}].per: "${w.per}" must be more than zero`) })
    }
  })
  return errors
}

export type Validation = { ok: true, config: Config } | { ok: false, errors: string[] }

/** Validates (and fills defaults into) a parsed document; reports every error at once. */
export function validateConfig (document: unknown): Validation {
  if (!validateSchema(document)) return { ok: false, errors: schemaErrors(validateSchema.errors ?? []) }
  const errors = crossChecks(document)
  return errors.length > 0 ? { ok: false, errors } : { ok: true, config: document }
}
