import { Type, type Static, type TArray, type TString } from '@sinclair/typebox'
import { Duration } from './duration'

/**
 * The `redis:` section, in its three forms: one server (`url`), a Sentinel-managed
 * primary (`sentinels` + `name`), or a Redis Cluster (`cluster`). One object with the
 * form's fields optional rather than a union of three: Ajv's answer to a failed union
 * is "matches none of", while here every wrong field is named on its own, and
 * redis-validate.ts says which form is meant (exactly one of url, sentinels, cluster).
 * `redis: URL` is short for `{ url: URL }` (load.ts).
 */

export const REDIS_FORMS = ['url', 'sentinels', 'cluster'] as const

const NODE_PATTERN = '^(\\[[0-9a-fA-F:.]+\\]|[^:\\s\\[\\]]+):[0-9]{1,5}$'
const Nodes = (what: string): TArray<TString> => Type.Array(
  Type.String({ pattern: NODE_PATTERN, errorMessage: `must be HOST:PORT of a ${what}, e.g. 127.0.0.1:${what === 'sentinel' ? 26379 : 7000}` }),
  { minItems: 1, maxItems: 64 }
)

export const RedisSchema = Type.Object({
  /** One server: `redis://[user:password@]host:port[/db]`; `rediss://` for TLS. */
  url: Type.Optional(Type.String({ pattern: '^rediss?://\\S+$', errorMessage: 'must be a redis:// or rediss:// URL', secret: true })),
  /** Sentinels to ask where the primary named `name` is; any one answering is enough. */
  sentinels: Type.Optional(Nodes('sentinel')),
  /** The primary's name in the sentinels' config (`sentinel monitor NAME ...`). */
  name: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$', errorMessage: 'is not a valid sentinel master name' })),
  /** Seed nodes of a Redis Cluster; the rest are found from them. */
  cluster: Type.Optional(Nodes('cluster node')),
  /** AUTH for the data nodes (the primary and replicas, or every cluster node). With `url`, put it in the URL. */
  password: Type.Optional(Type.String({ minLength: 1, maxLength: 512, errorMessage: 'must be 1 to 512 characters', secret: true })),
  /** TLS to every node (and sentinel) with the system's CAs; `rediss://` says the same for `url`. */
  tls: Type.Optional(Type.Object({}, { additionalProperties: false })),
  /**
   * Per-check timeout: under 10 ms a busy 2-core host times out a healthy Redis (`0s`
   * refused nearly every request); past 10 s a request waits longer than any client would.
   */
  timeout: Duration({ min: '10ms', max: '10s', default: '250ms' })
}, { additionalProperties: false })

export type RedisConfig = Static<typeof RedisSchema>

/** What check-config's summary says of the store: the form, never an address or a password. */
export function redisSummary (redis: RedisConfig): string {
  if (redis.cluster !== undefined) return `redis cluster (${redis.cluster.length} seed nodes)`
  if (redis.sentinels !== undefined) return `redis via ${redis.sentinels.length} sentinel(s), primary "${redis.name ?? ''}"`
  return 'redis'
}
