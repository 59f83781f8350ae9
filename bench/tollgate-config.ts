import { createHash, randomBytes } from 'node:crypto'

/** The API keys of a run and the tollgate config that knows them. */

/** Distinct API keys the saturating rows rotate over. */
export const KEY_COUNT = 1000
/** The path every row requests. */
export const PATH = '/v1/items'

export interface BenchKey { name: string, key: string, sha256: string }

export interface BenchKeys {
  /** On a plan no row can exhaust. */
  allowed: BenchKey[]
  /** On a plan of one request per hour: after the first, every answer is a 429. */
  refused: BenchKey
}

export function makeKeys (count: number = KEY_COUNT): BenchKeys {
  const make = (name: string): BenchKey => {
    const key = `bench-${name}-${randomBytes(12).toString('hex')}`
    return { name, key, sha256: createHash('sha256').update(key).digest('hex') }
  }
  const allowed = Array.from({ length: count }, (_, i) => make(`k${String(i).padStart(4, '0')}`))
  return { allowed, refused: make('refused') }
}

/** The `rls` domain the gRPC row asks, its one rule matching the `api_key` descriptor. */
export const GRPC_DOMAIN = 'bench'

export interface ConfigOptions {
  /** Lines appended at the top level. Default: none. */
  extra?: readonly string[]
  /** `listen.grpc` on a free port and the GRPC_DOMAIN domain: an `api_key` descriptor is limited by that key's plan. Default: false. */
  grpc?: boolean
  /** The `per` of the allowed keys' one window, and of the `anonymous` plan if any. Default: `1s`. */
  per?: string
  /** An `anonymous` plan (the bench plan's window) and `trust_proxy: true`: callers without a key are told apart by `x-forwarded-for`. Default: false. */
  anonymous?: boolean
}

/**
 * `upstreamUrl` undefined: the decision API on the proxy listener; `redisUrl` undefined:
 * the embedded store. Everything else is the default config.
 */
export function tollgateConfig (upstreamUrl: string | undefined, redisUrl: string | undefined, keys: BenchKeys, options: ConfigOptions = {}): string {
  const grpc = options.grpc === true
  return [
    '# written by bench/stacks.ts',
    'listen:',
    '  proxy: 127.0.0.1:0',
    '  admin: 127.0.0.1:0',
    ...(grpc ? ['  grpc: 127.0.0.1:0'] : []),
    ...(upstreamUrl === undefined ? [] : [`upstream: ${upstreamUrl}`]),
    ...(redisUrl === undefined ? [] : [`redis: ${redisUrl}`]),
    'plans:',
    // ~20 requests/s reach each key at saturation: a million per second is never reached.
    `  bench: [ { max: 1000000, per: ${options.per ?? '1s'} } ]`,
    '  tiny: [ { max: 1, per: 1h } ]',
    ...(options.anonymous === true ? [`  anonymous: [ { max: 1000000, per: ${options.per ?? '1s'} } ]`] : []),
    ...(options.anonymous === true ? ['trust_proxy: true'] : []),
    'keys:',
    ...keys.allowed.map((k) => `  - { name: ${k.name}, sha256: "${k.sha256}", plan: bench }`),
    `  - { name: ${keys.refused.name}, sha256: "${keys.refused.sha256}", plan: tiny }`,
    'shutdown: { grace: 2s, drain_delay: 0s }',
    ...(grpc ? ['rls:', '  domains:', `    ${GRPC_DOMAIN}:`, '      - match: [ { key: api_key } ]'] : []),
    ...(options.extra ?? []),
    ''
  ].join('\n')
}
