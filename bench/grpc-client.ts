import { credentials, makeClientConstructor, type CallOptions, type Client, type ServiceDefinition, type ServiceError } from '@grpc/grpc-js'
import { loadProtos, RLS_SERVICE, type Code } from '../src/grpc/proto'

/**
 * A grpc-js client on the repository's own .proto files, asking ShouldRateLimit with one
 * `api_key` descriptor: what the gRPC row's load generator (bench/grpc-loadgen.ts) sends,
 * and what the bench's check before the rounds sends once.
 */

/** The part of a reply the bench reads, as decoded with LOADER_OPTIONS (unset messages are null). */
export interface Answer {
  overall_code: Code
  statuses: ReadonlyArray<{ code: Code, current_limit: { name: string } | null }>
}

type Unary = (request: unknown, options: CallOptions, callback: (error: ServiceError | null, reply: Answer) => void) => void

/** As wrk's `--timeout 5s` for the HTTP rows: a call unanswered by then is an error (DEADLINE_EXCEEDED). */
export const CALL_TIMEOUT_MS = 5000

export interface RlsCaller {
  /** One ShouldRateLimit call; rejects with the ServiceError of a failed call. */
  ask: (key: string) => Promise<Answer>
  /** Resolves once the channel is connected; rejects after `timeoutMs`. */
  ready: (timeoutMs: number) => Promise<void>
  close: () => void
}

/**
 * One channel to `address` (HOST:PORT): every call multiplexed on one HTTP/2 connection,
 * as Envoy sends its calls to one rate limit cluster host.
 */
export function rlsCaller (address: string, domain: string): RlsCaller {
  // A service in our .proto files (proto-loader types entries as a union).
  const Rls = makeClientConstructor(loadProtos()[RLS_SERVICE] as ServiceDefinition, 'RateLimitService')
  const client: Client = new Rls(address, credentials.createInsecure())
  // makeClientConstructor adds the methods at run time; its type cannot name them.
  const should = (client as unknown as Record<string, Unary | undefined>).ShouldRateLimit
  if (should === undefined) throw new Error('the RateLimitService client has no ShouldRateLimit method')
  return {
    ask: async (key) => await new Promise((resolve, reject) => {
      const request = { domain, descriptors: [{ entries: [{ key: 'api_key', value: key }] }] }
      should.call(client, request, { deadline: Date.now() + CALL_TIMEOUT_MS }, (error, reply) => {
        if (error !== null) reject(error)
        else resolve(reply)
      })
    }),
    ready: async (timeoutMs) => await new Promise((resolve, reject) => {
      client.waitForReady(Date.now() + timeoutMs, (error) => {
        if (error === undefined || error === null) resolve()
        else reject(error)
      })
    }),
    close: () => client.close()
  }
}
