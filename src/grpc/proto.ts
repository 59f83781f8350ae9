import { join } from 'node:path'
import { loadSync, type Options, type PackageDefinition } from '@grpc/proto-loader'

/**
 * The .proto files live in the repository's top-level `proto/` folder, not beside this
 * module: tsc copies nothing but compiled TS, and `proto/` is two levels up both from
 * src/grpc (ts-node, tests) and from dist/grpc (the build, the image).
 */
export const PROTO_DIR = join(__dirname, '..', '..', 'proto')

export const RLS_SERVICE = 'envoy.service.ratelimit.v3.RateLimitService'
export const HEALTH_SERVICE = 'grpc.health.v1.Health'
export const SHOULD_RATE_LIMIT = `/${RLS_SERVICE}/ShouldRateLimit`
export const HEALTH_CHECK = `/${HEALTH_SERVICE}/Check`

/**
 * How decoded messages look: snake_case names as in the .proto, enums by name, 64-bit
 * integers as numbers (a Duration's seconds never nears 2^53), and every field present
 * (defaults filled), so the handlers read plain objects.
 */
export const LOADER_OPTIONS: Options = {
  keepCase: true,
  longs: Number,
  enums: String,
  defaults: true,
  arrays: true,
  includeDirs: [PROTO_DIR]
}

export function loadProtos (): PackageDefinition {
  return loadSync(['envoy/service/ratelimit/v3/rls.proto', 'grpc/health/v1/health.proto'], LOADER_OPTIONS)
}

export type Code = 'UNKNOWN' | 'OK' | 'OVER_LIMIT'
export type Unit = 'UNKNOWN' | 'SECOND' | 'MINUTE' | 'HOUR' | 'DAY' | 'MONTH' | 'YEAR'

/** `RateLimitRequest` as decoded with LOADER_OPTIONS. */
export interface RateLimitRequest {
  readonly domain: string
  readonly descriptors: ReadonlyArray<{
    readonly entries: ReadonlyArray<{ readonly key: string, readonly value: string }>
    readonly limit: { readonly requests_per_unit: number, readonly unit: Unit | number } | null
  }>
  readonly hits_addend: number
}

export interface DescriptorStatus {
  readonly code: Code
  readonly current_limit?: { readonly name: string, readonly requests_per_unit: number, readonly unit: Unit }
  readonly limit_remaining: number
  readonly duration_until_reset?: { readonly seconds: number, readonly nanos: number }
}

export interface RateLimitResponse {
  readonly overall_code: Code
  readonly statuses: readonly DescriptorStatus[]
  readonly response_headers_to_add: ReadonlyArray<{ readonly key: string, readonly value: string }>
  readonly request_headers_to_add: ReadonlyArray<{ readonly key: string, readonly value: string }>
  readonly raw_body?: Buffer
}
