import { Type, type Static, type TString } from '@sinclair/typebox'
import { AdminSchema } from './schema-admin'
import { DecisionSchema } from './schema-decision'
import { MAX_AMOUNT } from './bounds'
import { Duration } from './duration'
import { ALGORITHMS, ANONYMOUS, NAME_PATTERN, REDIS_ERROR_MODES } from './vocabulary'
export { DURATION_PATTERN } from './duration'
import { RlsSchema } from './schema-rls'
import { ServerSchema } from './schema-server'
import { RedisSchema } from './schema-redis'

/**
 * The one source of truth for config.yml: Ajv validates against it (and fills in the
 * defaults), TypeScript takes the `Config` type from it, and error messages come from
 * the `errorMessage` of the keyword that failed. Shorthands (`upstream: URL`,
 * `redis: URL`) are expanded to their long form before validation, so the schema only
 * knows the long form.
 */

const Algorithm = Type.Union(ALGORITHMS.map((a) => Type.Literal(a)))

/** A name that is safe in logs, metric labels and Redis keys. */
const Name = Type.String({ pattern: NAME_PATTERN, errorMessage: 'is not a valid name (letters, digits, `_`, `.`, `-`; at most 64)' })

export const WindowSchema = Type.Object({
  /** Requests (or cost units) allowed per window. */
  max: Type.Integer({ minimum: 1, maximum: MAX_AMOUNT }),
  /** Window length: a year at most (`fixed` windows are multiples of it since the epoch). */
  per: Duration({ min: '1ms', max: '365d' }),
  /** Overrides the top-level `algorithm` for this window. */
  algorithm: Type.Optional(Algorithm)
}, { additionalProperties: false })

const Windows = Type.Array(WindowSchema, { minItems: 1 })
// additionalProperties: TypeBox's Record only sets patternProperties, which lets a key
// outside the pattern through, its value unchecked.
const PlanMap = Type.Record(Type.String({ pattern: NAME_PATTERN }), Windows, { additionalProperties: false })

/**
 * What an API key may be made of: visible ASCII but the comma, which RFC 9110 §5.3 lets
 * an intermediary use to join two header lines into one (limits/identity.ts reads it).
 */
export const KEY_PATTERN = '^[\\x21-\\x2b\\x2d-\\x7e]+$'

const Key = Type.Object({
  name: Name,
  /** sha256 of the key in hex (`tollgate hash-key KEY`): the key never sits in the file. */
  sha256: Type.Optional(Type.String({ pattern: '^[0-9a-fA-F]{64}$', errorMessage: 'is not 64 hex characters (use `tollgate hash-key KEY`)' })),
  /** The key in clear; allowed for demos, warned about at load. */
  key: Type.Optional(Type.String({ minLength: 1, maxLength: 256, pattern: KEY_PATTERN, errorMessage: 'must be 1 to 256 visible ASCII characters, no comma', secret: true })),
  plan: Name
}, { additionalProperties: false })

const Route = Type.Object({
  /** `METHOD /path` or `/path`; `*` matches any run of characters (`/v1/upload/*`). */
  match: Type.String({ pattern: '^([A-Za-z]+ +|\\* +)?/\\S*$', errorMessage: 'must look like "GET /path", "* /path/*" or "/path"' }),
  /** `false`: no identity check, no limit, no decision recorded. */
  limit: Type.Boolean({ default: true }),
  /** Units each matching request spends in every window. */
  cost: Type.Integer({ minimum: 1, maximum: MAX_AMOUNT, default: 1 }),
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
    grpc: Type.Optional(Type.String({ pattern: '^(\\[[0-9a-fA-F:.]+\\]|[^:\\s]*):[0-9]{1,5}$', errorMessage: 'must be HOST:PORT, e.g. 0.0.0.0:8081' })),
    /** The decision API beside the proxy (with an `upstream`); bind it to loopback or a private address. */
    decision: Type.Optional(Type.String({ pattern: '^(\\[[0-9a-fA-F:.]+\\]|[^:\\s]*):[0-9]{1,5}$', errorMessage: 'must be HOST:PORT, e.g. 127.0.0.1:8082' }))
  }, { additionalProperties: false, default: {} }),
  server: ServerSchema,
  upstream: Type.Optional(Type.Object({
    url: Type.String({ pattern: '^https?://[^\\s/]+(/\\S*)?$', errorMessage: 'must be an http:// or https:// URL' }),
    /** No response headers within this time → 504. */
    timeout: Duration({ min: '10ms', max: '1h', default: '30s' })
  }, { additionalProperties: false })),
  upstream_health: Type.Object({
    /** GET this path (2xx/3xx = up); without it, a TCP connect to the upstream's port. */
    path: Type.Optional(Type.String({ pattern: '^/\\S*$', errorMessage: 'must be a path starting with /' })),
    /** How often `tollgate_upstream_up` is refreshed; at least 1 s, as kubelet probes (`0s` was ~350 connects a second). */
    interval: Duration({ min: '1s', max: '1h', default: '5s' }),
    /** One check's limit; past it the upstream counts as down. */
    timeout: Duration({ min: '10ms', max: '1m', default: '1s' })
  }, { additionalProperties: false, default: {} }),
  redis: Type.Optional(RedisSchema),
  on_redis_error: Type.Union(REDIS_ERROR_MODES.map((m) => Type.Literal(m)), { default: 'allow' }),
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
  /** One line per request (`true`), none (`false` or `0`), or a share of them (`0.01`); 5xx always. */
  // One keyword set, not a union: Ajv then names the bound that failed (`must be at most
  // 1`), where a union can only say that no branch matched.
  access_log: Type.Unsafe<boolean | number>({
    type: ['boolean', 'number'],
    minimum: 0,
    maximum: 1,
    default: true,
    errorMessage: 'must be true, false, or the share of requests to log, from 0 to 1 (0.01: one in a hundred)'
  }),
  log_level: Type.Union(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)), { default: 'info' }),
  api_key: Type.Object({
    header: Type.String({ pattern: '^[A-Za-z0-9!#$%&\'*+.^_`|~-]+$', default: 'x-api-key', errorMessage: 'is not a valid header name' }),
    unknown: Type.Union([Type.Literal('reject'), Type.Literal(ANONYMOUS)], { default: 'reject' })
  }, { additionalProperties: false, default: {} }),
  algorithm: Type.Union(ALGORITHMS.map((a) => Type.Literal(a)), { default: 'gcra' }),
  plans: Type.Record(Type.String({ pattern: NAME_PATTERN }), Windows, { minProperties: 1, additionalProperties: false }),
  keys: Type.Array(Key, { default: [] }),
  routes: Type.Array(Route, { default: [] }),
  shadow: Type.Boolean({ default: false }),
  /** Envoy's rate limit service: domains and their descriptor rules. */
  rls: Type.Optional(RlsSchema),
  /** How the decision API (`/v1/authorize`) answers a refusal. */
  decision: DecisionSchema,
  // drain_delay + grace is one timer: together at most 2 h, far below Node's timer limit.
  shutdown: Type.Object({
    grace: Duration({ min: '0s', max: '1h', default: '30s' }),
    drain_delay: Duration({ min: '0s', max: '1h', default: '5s' })
  }, { additionalProperties: false, default: {} }),
  admin: AdminSchema
}, { additionalProperties: false })

export type Config = Static<typeof ConfigSchema>
export type WindowConfig = Static<typeof WindowSchema>
