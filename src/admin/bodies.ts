import { Type, type Static } from '@sinclair/typebox'
import { compileChecker, Duration, NAME_PATTERN, WindowSchema } from '../config'
import { TollgateError } from '../errors'

/**
 * The bodies of the operator's API, checked with the config's own schema keywords, so
 * an override's window has exactly the bounds of a plan's window, and a ban's `for` is
 * a duration like any other.
 */

/** An operator's note; long enough for a ticket link and a sentence. */
const Reason = Type.String({ minLength: 1, maxLength: 500 })
/** At most a year ahead, like the longest window: a longer override belongs in the file. */
export const MAX_AHEAD_MS = 366 * 86_400_000
const ISO_TIME = '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\\.[0-9]+)?)?(Z|[+-][0-9]{2}:[0-9]{2})$'

const OverrideBodySchema = Type.Object({
  plan: Type.Optional(Type.String({ pattern: NAME_PATTERN, errorMessage: 'is not a valid plan name' })),
  windows: Type.Optional(Type.Array(WindowSchema, { minItems: 1, maxItems: 16 })),
  expires: Type.Optional(Type.String({ pattern: ISO_TIME, errorMessage: 'must be an ISO 8601 time with a zone, e.g. 2026-12-31T00:00:00Z' })),
  reason: Type.Optional(Reason)
}, { additionalProperties: false })
export type OverrideBody = Static<typeof OverrideBodySchema>

const BanBodySchema = Type.Object({
  /** How long: a second to a year. */
  for: Duration({ min: '1s', max: '365d' }),
  reason: Type.Optional(Reason)
}, { additionalProperties: false })
export type BanBody = Static<typeof BanBodySchema>

const checkOverride = compileChecker<OverrideBody>(OverrideBodySchema)
const checkBan = compileChecker<BanBody>(BanBodySchema)

/** `windows[0].max: ...` → `body.windows[0].max: ...`, `(top level): ...` → `body: ...`. */
const inBody = (error: string): string => error.startsWith('(top level)') ? `body${error.slice('(top level)'.length)}` : `body${error.startsWith('[') ? '' : '.'}${error}`

function badBody (errors: readonly string[]): TollgateError {
  return new TollgateError('bad_request', { errors }, `The body is invalid: ${errors.join('; ')}`)
}

/** A PUT /v1/overrides body, or the 400 that names every problem. */
export function overrideBody (data: unknown, nowMs: number): OverrideBody {
  const checked = checkOverride(data ?? {})
  if (!checked.ok) throw badBody(checked.errors.map(inBody))
  const body = checked.value
  const errors: string[] = []
  if ((body.plan === undefined) === (body.windows === undefined)) errors.push('body: needs exactly one of `plan` or `windows`')
  if (body.expires !== undefined) {
    const at = Date.parse(body.expires)
    if (Number.isNaN(at)) errors.push(`body.expires: "${body.expires}" is not a valid time`)
    else if (at <= nowMs) errors.push(`body.expires: "${body.expires}" is in the past`)
    else if (at - nowMs > MAX_AHEAD_MS) errors.push(`body.expires: "${body.expires}" is more than 366 days ahead`)
  }
  if (errors.length > 0) throw badBody(errors)
  return body
}

/** A PUT /v1/bans body, or the 400 that names every problem. */
export function banBody (data: unknown): BanBody {
  const checked = checkBan(data ?? {})
  if (!checked.ok) throw badBody(checked.errors.map(inBody))
  return checked.value
}
