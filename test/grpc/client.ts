import { credentials, makeClientConstructor, type Client, type ServiceError, type ServiceDefinition } from '@grpc/grpc-js'
import type { Test } from 'tap'
import { HEALTH_SERVICE, loadProtos, RLS_SERVICE } from '../../src/grpc/proto'

/** What the tests send: `hits_addend` and `limit` optional, as a real client would omit them. */
export interface Descriptor {
  entries: Array<{ key: string, value: string }>
  limit?: { requests_per_unit: number, unit: string }
}

export interface Status {
  code: string
  current_limit: { name: string, requests_per_unit: number, unit: string } | null
  limit_remaining: number
  duration_until_reset: { seconds: number, nanos: number } | null
}

export interface Reply {
  overall_code: string
  statuses: Status[]
  response_headers_to_add: Array<{ key: string, value: string }>
  request_headers_to_add: Array<{ key: string, value: string }>
  raw_body: Buffer
}

type Unary = (request: unknown, callback: (error: ServiceError | null, reply: unknown) => void) => void

/** A real grpc-js client on the repository's own .proto files. */
export interface RlsClient {
  should (domain: string, descriptors: Descriptor[], hitsAddend?: number): Promise<Reply>
  /** Resolves with the ServiceError (code, details) a call failed with. */
  fails (domain: string, descriptors: Descriptor[], hitsAddend?: number): Promise<ServiceError>
  health (service?: string): Promise<string>
}

function call<T> (client: Client, method: string, request: unknown): Promise<T> {
  // makeClientConstructor adds the service's methods at run time; its type cannot name them.
  const fn = (client as unknown as Record<string, Unary>)[method]
  if (fn === undefined) throw new Error(`no method ${method}`)
  return new Promise((resolve, reject) => {
    fn.call(client, request, (error, reply) => {
      if (error !== null) reject(error)
      else resolve(reply as T)
    })
  })
}

export function rlsClient (t: Test, address: string): RlsClient {
  const definition = loadProtos()
  // These two names are services in our .proto files (proto-loader types entries as a union).
  const Rls = makeClientConstructor(definition[RLS_SERVICE] as ServiceDefinition, 'RateLimitService')
  const Health = makeClientConstructor(definition[HEALTH_SERVICE] as ServiceDefinition, 'Health')
  const rls = new Rls(address, credentials.createInsecure())
  const health = new Health(address, credentials.createInsecure())
  t.teardown(() => { rls.close(); health.close() })
  const request = (domain: string, descriptors: Descriptor[], hitsAddend?: number): unknown =>
    ({ domain, descriptors, ...(hitsAddend === undefined ? {} : { hits_addend: hitsAddend }) })
  return {
    should: async (domain, descriptors, hitsAddend) => await call<Reply>(rls, 'ShouldRateLimit', request(domain, descriptors, hitsAddend)),
    fails: async (domain, descriptors, hitsAddend) => {
      try {
        await call<Reply>(rls, 'ShouldRateLimit', request(domain, descriptors, hitsAddend))
      } catch (error) {
        return error as ServiceError
      }
      throw new Error('the call succeeded')
    },
    health: async (service = '') => (await call<{ status: string }>(health, 'Check', { service })).status
  }
}

/** `{ key: value }` pairs → one descriptor. */
export function descriptor (...pairs: Array<[string, string]>): Descriptor {
  return { entries: pairs.map(([key, value]) => ({ key, value })) }
}

/** The address from the `tollgate listening` line's `grpc` field, for 127.0.0.1. */
export function grpcAddressOf (logs: ReadonlyArray<Record<string, unknown>>): string {
  const line = logs.find((l) => l.msg === 'tollgate listening')
  const grpc = line?.grpc
  if (typeof grpc !== 'string') throw new Error(`no grpc address in the listening line: ${JSON.stringify(line)}`)
  return grpc
}
