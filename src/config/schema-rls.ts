import { Type, type Static } from '@sinclair/typebox'

/**
 * The `rls:` section: tollgate as Envoy's rate limit service (`listen.grpc`). Each
 * domain is a list of rules; a descriptor takes the first rule whose `match` entries
 * it has, exactly and in order. Kept apart from schema.ts so that the Envoy vocabulary
 * stays in one place.
 */

/** The entry key whose value is an API key: looked up like the proxy's key header. */
export const API_KEY_ENTRY = 'api_key'
export const HEADER_MODES = ['draft', 'off'] as const

/** Envoy domains are free-form (`edge`, `contour`, `default/eg/http`); bounded, no spaces. */
const DOMAIN_PATTERN = '^[A-Za-z0-9][A-Za-z0-9_./:-]{0,127}$'
const RULE_NAME = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$', errorMessage: 'is not a valid name (letters, digits, `_`, `.`, `-`; at most 64)' })

const Entry = Type.Object({
  /** The descriptor entry's key, as Envoy's action sets it (`remote_address`, `header_match`, a `descriptor_key`). */
  key: Type.String({ pattern: '^\\S{1,128}$', errorMessage: 'must be 1 to 128 characters, no spaces' }),
  /** When given, the entry's value must be equal; when not, the value names the subject. */
  value: Type.Optional(Type.String({ minLength: 1, maxLength: 1024 }))
}, { additionalProperties: false })

const Rule = Type.Object({
  match: Type.Array(Entry, { minItems: 1, maxItems: 16 }),
  /** The plan whose windows apply; without it an `api_key` entry's client plan does. */
  plan: Type.Optional(Type.String({ minLength: 1 })),
  /** Matches, answers OK and spends nothing (envoyproxy/ratelimit's `unlimited`). */
  unlimited: Type.Boolean({ default: false }),
  /** Counts and reports `would_limit`, never answers OVER_LIMIT for this rule. */
  shadow: Type.Boolean({ default: false }),
  /** `draft`: the RateLimit headers of this rule's windows go into `response_headers_to_add`. */
  headers: Type.Union(HEADER_MODES.map((m) => Type.Literal(m)), { default: 'draft' }),
  /** Names the rule for `replaces`. */
  name: Type.Optional(RULE_NAME),
  /** When this rule and a named one both match descriptors of one request, the named one is skipped. */
  replaces: Type.Optional(Type.Array(RULE_NAME, { minItems: 1, maxItems: 16 }))
}, { additionalProperties: false })

export const RlsSchema = Type.Object({
  /** Honour a descriptor's `limit` (Envoy's override) instead of the rule's plan. */
  allow_overrides: Type.Boolean({ default: false }),
  domains: Type.Record(
    Type.String({ pattern: DOMAIN_PATTERN }),
    Type.Array(Rule, { minItems: 1, maxItems: 256 }),
    { default: {}, maxProperties: 64, additionalProperties: false }
  )
}, { additionalProperties: false })

export type RlsConfig = Static<typeof RlsSchema>
export type RlsRuleConfig = Static<typeof Rule>
