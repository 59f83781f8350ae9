import { Type, type Static, type TString } from '@sinclair/typebox'
import { RlsSchema } from './rls-schema'
import { RedisSchema } from './schema-redis'

/**
 * The one source of truth for config.yml: Ajv validates against it (and fills in the
 * defaults), TypeScript takes the `Config` type from it, and error messages come from
 * the `errorMessage` of the keyword that failed. Shorthands (`upstream: URL`,
 * `redis: URL`) are expanded to their long form before validation, so the schema only
 * knows the long form.
 */

/** Integer with a unit: `0s`, `500ms`, `30s`, `5m`, `1h`, `1d`. */
export const DURATION_PATTERN = '^[0-9]+(ms|s|m|h|d)$'
const Duration = (defaultValue?: string): TString =>
  Type.String({ format: 'duration', ...(defaultValue === undefined ? {} : { default: defaultValue }) })

const Algorithm = Type.Union([Type.Literal('gcra'), Type.Literal('sliding'), Type.Literal('fixed')])

/** A name that is safe in logs, metric labels and Redis keys. */
const NAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$'
const Name = Type.String({ pattern: NAME_PATTERN, errorMessage: 'is not a valid name (letters, digits, `_`, `.`, `-`; at most 64)' })

const Window = Type.Object({
  /** Requests (or cost units) allowed per window. */
  max: Type.Integer({ minimum: 1 }),
  /** Window length; must be more than zero. */
  per: Duration(),
  /** Overrides the top-level `algorithm` for this window. */
  algorithm: Type.Optional(Algorithm)
}, { additionalProperties: false })

const Windows = Type.Array(Window, { minItems: 1 })
// additionalProperties: TypeBox's Record only sets patternProperties, which lets a key
// outside the pattern through, its value unchecked.
const PlanMap = Type.Record(Type.String({ pattern: NAME_PATTERN }), Windows, { additionalProperties: false })

const Key = Type.Object({
  name: Name,
  /** sha256 of the key in hex (`tollgate hash-key KEY`): the key never sits in the file. */
  sha256: Type.Optional(Type.String({ pattern: '^[0-9a-fA-F]{64}$', errorMessage: 'is not 64 hex characters (use `tollgate hash-key KEY`)' })),
  /** The key in clear; allowed for demos, warned about at load. */
  key: Type.Optional(Type.String({ minLength: 1, maxLength: 256, pattern: '^[\\x21-\\x7e]+$', errorMessage: 'must be 1 to 256 visible ASCII characters', secret: true })),
  plan: Name
}, { additionalProperties: false })

const Route = Type.Object({
  /** `METHOD /path` or `/path`; `*` matches any run of characters (`/v1/upload/*`). */
  match: Type.String({ pattern: '^([A-Za-z]+ +|\\* +)?/\\S*$', errorMessage: 'must look like "GET /path", "* /path/*" or "/path"' }),
  /** `false`: no identity check, no limit, no decision recorded. */
  limit: Type.Boolean({ default: true }),
  /** Units each matching request spends in every window. */
  cost: Type.Integer({ minimum: 1, default: 1 }),
  /** Extra windows per plan, checked in addition to the plan's own. */
  plans: Type.Optional(PlanMap)
}, { additionalProperties: false })

const HostPort = (defaultValue: string): TString =>
  Type.String({ pattern: '^(\\[[0-9a-fA-F:.]+\\]|[^:\\s]*):[0-9]{1,5}$', default: defaultValue, errorMessage: 'must be HOST:PORT, e.g. 0.0.0.0:8080' })

export const ConfigSchema = Type.Object({
  listen: Type.Object({
    proxy: HostPort('0.0.0.0:8080'),
    admin: HostPort('0.0.0.0:9464'),
    /** Envoy's RateLimitService over gRPC (`rls`); no listener without it. */
    grpc: Type.Optional(Type.String({ pattern: '^(\\[[0-9a-fA-F:.]+\\]|[^:\\s]*):[0-9]{1,5}$', errorMessage: 'must be HOST:PORT, e.g. 0.0.0.0:8081' }))
  }, { additionalProperties: false, default: {} }),
  upstream: Type.Optional(Type.Object({
    url: Type.String({ pattern: '^https?://[^\\s/]+(/\\S*)?$', errorMessage: 'must be an http:// or https:// URL' }),
    /** No response headers within this time → 504. */
    timeout: Duration('30s')
  }, { additionalProperties: false })),
  upstream_health: Type.Object({
    /** GET this path (2xx/3xx = up); without it, a TCP connect to the upstream's port. */
    path: Type.Optional(Type.String({ pattern: '^/\\S*$', errorMessage: 'must be a path starting with /' })),
    /** How often `tollgate_upstream_up` is refreshed. */
    interval: Duration('5s'),
    /** One check's limit; past it the upstream counts as down. */
    timeout: Duration('1s')
  }, { additionalProperties: false, default: {} }),
  redis: Type.Optional(RedisSchema),
  on_redis_error: Type.Union([Type.Literal('allow'), Type.Literal('deny'), Type.Literal('local')], { default: 'allow' }),
  /**
   * Rate-limit checks waiting on the store at once. Past it a request is refused at once
   * with 503 `overloaded` (never let through), so a burst cannot queue checks until they
   * time out. 1000 is ~100 ms of a Redis' work on the limit script.
   */
  max_checks_in_flight: Type.Integer({ minimum: 1, maximum: 100000, default: 1000 }),
  trust_proxy: Type.Union([Type.Boolean(), Type.Array(Type.String({ minLength: 1 }))], {
    default: false,
    errorMessage: 'must be true, false or a list of addresses / CIDR ranges'
  }),
  log_level: Type.Union(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)), { default: 'info' }),
  api_key: Type.Object({
    header: Type.String({ pattern: '^[A-Za-z0-9!#$%&\'*+.^_`|~-]+$', default: 'x-api-key', errorMessage: 'is not a valid header name' }),
    unknown: Type.Union([Type.Literal('reject'), Type.Literal('anonymous')], { default: 'reject' })
  }, { additionalProperties: false, default: {} }),
  algorithm: Type.Union([Type.Literal('gcra'), Type.Literal('sliding'), Type.Literal('fixed')], { default: 'gcra' }),
  plans: Type.Record(Type.String({ pattern: NAME_PATTERN }), Windows, { minProperties: 1, additionalProperties: false }),
  keys: Type.Array(Key, { default: [] }),
  routes: Type.Array(Route, { default: [] }),
  shadow: Type.Boolean({ default: false }),
  /** Envoy's rate limit service: domains and their descriptor rules. */
  rls: Type.Optional(RlsSchema),
  shutdown: Type.Object({
    grace: Duration('30s'),
    drain_delay: Duration('5s')
  }, { additionalProperties: false, default: {} })
}, { additionalProperties: false })

export type Config = Static<typeof ConfigSchema>
export type WindowConfig = Static<typeof Window>

const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const

/** `30s` → 30000. Only called on values the schema already accepted. */
export function durationMs (value: string): number {
  const match = /^([0-9]+)(ms|s|m|h|d)$/.exec(value)
  if (match === null) throw new Error(`"${value}" is not a duration`)
  return Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS]
}
