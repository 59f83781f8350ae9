import { Type, type Static } from '@sinclair/typebox'
import { NAME_PATTERN } from './vocabulary'

/**
 * The `admin:` section: who may use the admin port's guarded endpoints. Kept apart
 * from schema.ts so that the admin vocabulary stays in one place.
 */

/** Shorter than this is guessable from a wordlist; 16 visible characters carry ~100 bits. */
export const MIN_ADMIN_TOKEN = 16
const MAX_ADMIN_TOKEN = 1024
/** Enough for a team's people and robots; a longer list is a mistake, not a config. */
const MAX_ADMIN_TOKENS = 64
/** The name a single-string `admin.token` goes by in the audit trail. */
export const SINGLE_TOKEN_NAME = 'admin'

const TOKEN_RULE = `${MIN_ADMIN_TOKEN} to ${MAX_ADMIN_TOKEN} visible ASCII characters (no spaces): e.g. \`openssl rand -hex 32\``
const Token = Type.String({ pattern: `^[\\x21-\\x7e]{${MIN_ADMIN_TOKEN},${MAX_ADMIN_TOKEN}}$`, errorMessage: `must be ${TOKEN_RULE}`, secret: true })

export const AdminSchema = Type.Object({
  /**
   * Bearer token for every guarded admin endpoint (`POST /-/reload`, the operator's
   * API), usually `${TOLLGATE_ADMIN_TOKEN}`, or a list of named tokens
   * (`[ { name: ops, token: ... } ]`) whose names the audit trail records. Without one,
   * those endpoints answer only when `listen.admin` is a loopback address. `secret`:
   * never quoted in an error.
   */
  token: Type.Optional(Type.Union([
    Token,
    Type.Array(Type.Object({
      name: Type.String({ pattern: NAME_PATTERN, errorMessage: 'is not a valid name (letters, digits, `_`, `.`, `-`; at most 64)' }),
      token: Token
    }, { additionalProperties: false }), { minItems: 1, maxItems: MAX_ADMIN_TOKENS })
  ], { secret: true, errorMessage: `must be one token of ${TOKEN_RULE}, or a list of 1 to ${MAX_ADMIN_TOKENS} \`{ name, token }\`` }))
}, { additionalProperties: false, default: {} })

export type AdminConfig = Static<typeof AdminSchema>

/** `admin.token` in either form, as the named tokens the guard compares against. */
export function adminTokens (admin: AdminConfig): ReadonlyArray<{ readonly name: string, readonly token: string }> {
  const { token } = admin
  if (token === undefined) return []
  return typeof token === 'string' ? [{ name: SINGLE_TOKEN_NAME, token }] : token
}

/**
 * What the `admin:` schema cannot say: a name used by two tokens would make the audit
 * trail's "who" ambiguous, and one token listed twice names two people for one secret.
 * A token is never quoted, not even in this error. Runs even when the schema failed;
 * what is malformed is skipped, the schema already named it.
 */
export function adminChecks (section: unknown): string[] {
  if (section === null || typeof section !== 'object' || !('token' in section) || !Array.isArray(section.token)) return []
  const errors: string[] = []
  const names = new Set<string>()
  const tokens = new Set<string>()
  section.token.forEach((entry: unknown, i) => {
    if (entry === null || typeof entry !== 'object') return
    const at = `admin.token[${i}]`
    if ('name' in entry && typeof entry.name === 'string') {
      if (names.has(entry.name)) errors.push(`${at}.name: "${entry.name}" is used by another token`)
      names.add(entry.name)
    }
    if ('token' in entry && typeof entry.token === 'string') {
      if (tokens.has(entry.token)) errors.push(`${at}.token: (value hidden) is the token of another entry: each name needs its own token`)
      tokens.add(entry.token)
    }
  })
  return errors
}
