import type { BenchContext } from './context'
import type { Loader } from './load'
import type { SystemId } from './stacks'
import { checkGrpc, grpcRowLoader } from './grpc'
import { PATH } from './tollgate-config'

/**
 * The rows of the benchmark. Adding a row is adding one entry here: the system it
 * loads (bench/stacks.ts), the keys it sends, the status every answer must have, and
 * how it is loaded. A row with its own protocol (gRPC) brings its own `loader`.
 */
export interface Row {
  /** What `--rows` names and the report keys on. */
  id: string
  label: string
  system: SystemId
  /** `spread`: rotate over every allowed key; `refused`: the one key that is over its limit. */
  keys: 'spread' | 'refused'
  /** The status (nearly) every response must have, or the setup is wrong. */
  expect: number
  /** `saturate`: as fast as the connections go (wrk); `fixed`: `--rate` requests/s (autocannon). */
  load: 'saturate' | 'fixed'
  /** Only run when `--rows` names it. */
  optional?: boolean
  /** Replaces the default loader of `load`. */
  loader?: (ctx: BenchContext) => Loader
  /**
   * Replaces the HTTP check before the rounds (two requests with the row's first key), for
   * a row with its own protocol: resolves with what is wrong, or undefined.
   */
  check?: (url: string, key: string) => Promise<string | undefined>
  /**
   * `decision`: the row asks a decision API, as nginx's auth_request does (`GET
   * /v1/authorize` with X-Original-Method and X-Original-URI), and every allowed answer
   * is an empty 200. Default: the row proxies, and its answers are the upstream's.
   */
  asks?: 'decision'
}

/** The decision rows' request: nginx's shape, the original request being the proxy rows' own. */
export const DECISION_PATH = '/v1/authorize'
export const DECISION_HEADERS: Readonly<Record<string, string>> = { 'x-original-method': 'GET', 'x-original-uri': PATH }

/** The row every ratio is taken against. */
export const PEER_ROW = 'peer'

export const ROWS: readonly Row[] = [
  { id: 'direct', label: 'direct to the upstream', system: 'direct', keys: 'spread', expect: 200, load: 'saturate' },
  { id: 'peer', label: 'peer: Fastify + http-proxy + rate-limit (Redis)', system: 'peer', keys: 'spread', expect: 200, load: 'saturate' },
  { id: 'nginx', label: 'nginx proxy + limit_req', system: 'nginx', keys: 'spread', expect: 200, load: 'saturate' },
  { id: 'allowed', label: 'tollgate allowed (Redis)', system: 'tollgate', keys: 'spread', expect: 200, load: 'saturate' },
  { id: 'allowed-nolog', label: 'tollgate allowed (Redis), access_log: false', system: 'tollgate-nolog', keys: 'spread', expect: 200, load: 'saturate', optional: true },
  { id: 'allowed-traced', label: 'tollgate allowed (Redis), traces on (OTLP/HTTP to a local sink)', system: 'tollgate-traced', keys: 'spread', expect: 200, load: 'saturate', optional: true },
  { id: 'allowed-memory', label: 'tollgate allowed (embedded store)', system: 'tollgate-memory', keys: 'spread', expect: 200, load: 'saturate' },
  { id: 'refused', label: 'tollgate refused (1 key, 429)', system: 'tollgate', keys: 'refused', expect: 429, load: 'saturate' },
  { id: 'decision', label: 'tollgate decision API (Redis)', system: 'tollgate-decision', keys: 'spread', expect: 200, load: 'saturate', asks: 'decision' },
  { id: 'peer-decision', label: 'peer decision: Fastify + rate-limit (Redis), 200 itself', system: 'peer-decision', keys: 'spread', expect: 200, load: 'saturate', asks: 'decision' },
  // `expect: 200`: an OK answer, as tollgate's metrics count it (bench/grpc.ts).
  { id: 'grpc', label: 'tollgate gRPC ShouldRateLimit (Redis, 1 descriptor)', system: 'tollgate-grpc', keys: 'spread', expect: 200, load: 'saturate', loader: grpcRowLoader, check: checkGrpc },
  { id: 'nginx-auth', label: 'nginx auth_request → tollgate decision (Redis)', system: 'nginx-auth', keys: 'spread', expect: 200, load: 'saturate' },
  { id: 'direct-fixed', label: 'direct, fixed rate', system: 'direct', keys: 'spread', expect: 200, load: 'fixed' },
  { id: 'allowed-fixed', label: 'tollgate allowed (Redis), fixed rate', system: 'tollgate', keys: 'spread', expect: 200, load: 'fixed' },
  { id: 'undici', label: 'reference: Fastify + undici Pool, no limit', system: 'reference-undici', keys: 'spread', expect: 200, load: 'saturate', optional: true },
  { id: 'reply-from', label: 'reference: Fastify + reply-from, no limit', system: 'reference-reply-from', keys: 'spread', expect: 200, load: 'saturate', optional: true }
]

/** The rows `--rows` selects (checked by parseOptions), in list order; without it every non-optional row. */
export function selectRows (ids: readonly string[] | undefined): Row[] {
  if (ids === undefined) return ROWS.filter((row) => row.optional !== true)
  return ROWS.filter((row) => ids.includes(row.id))
}
