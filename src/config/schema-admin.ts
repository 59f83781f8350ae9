import { Type, type Static } from '@sinclair/typebox'

/**
 * The `admin:` section: who may use the admin port's mutating endpoints. Kept apart
 * from schema.ts so that the admin vocabulary stays in one place.
 */

/** Shorter than this is guessable from a wordlist; 16 visible characters carry ~100 bits. */
export const MIN_ADMIN_TOKEN = 16
const MAX_ADMIN_TOKEN = 1024

export const AdminSchema = Type.Object({
  /**
   * Bearer token for every mutating admin endpoint (`POST /-/reload`), usually
   * `${TOLLGATE_ADMIN_TOKEN}`. Without one, those endpoints answer only when
   * `listen.admin` is a loopback address. `secret`: never quoted in an error.
   */
  token: Type.Optional(Type.String({
    pattern: `^[\\x21-\\x7e]{${MIN_ADMIN_TOKEN},${MAX_ADMIN_TOKEN}}$`,
    errorMessage: `must be ${MIN_ADMIN_TOKEN} to ${MAX_ADMIN_TOKEN} visible ASCII characters (no spaces): e.g. \`openssl rand -hex 32\``,
    secret: true
  }))
}, { additionalProperties: false, default: {} })

export type AdminConfig = Static<typeof AdminSchema>
