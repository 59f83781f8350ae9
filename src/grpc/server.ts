import { Server, ServerCredentials, status, type sendUnaryData, type ServerUnaryCall, type ServiceDefinition, type UntypedServiceImplementation } from '@grpc/grpc-js'
import type { Runtime } from '../limits'
import type { Logger, Metrics } from '../observe'
import { InvalidRequest } from './bounds'
import { shouldRateLimit } from './decide'
import { HEALTH_CHECK, HEALTH_SERVICE, loadProtos, RLS_SERVICE, SHOULD_RATE_LIMIT, type RateLimitRequest, type RateLimitResponse } from './proto'

export interface GrpcDeps {
  readonly log: Logger
  readonly metrics: Metrics
  /** The runtime (config snapshot) in force; read once per call, so reloads apply to the next one. */
  readonly currentRuntime: () => Runtime
  /** True once shutdown began: health answers NOT_SERVING. */
  readonly draining: () => boolean
}

/** Envoy's requests are a few hundred bytes; this bounds what one call can make us parse. */
const MAX_MESSAGE_BYTES = 256 * 1024

/**
 * The `status_code` label of `tollgate_http_requests_total{listener="grpc"}`: the HTTP
 * status the same answer has on the decision API, so one dashboard reads both.
 * OVER_LIMIT is a successful call, counted as 429 like a refusal over HTTP.
 */
const HTTP_EQUIVALENT: Partial<Record<status, number>> = {
  [status.INVALID_ARGUMENT]: 400,
  [status.NOT_FOUND]: 404,
  [status.UNAVAILABLE]: 503,
  [status.INTERNAL]: 500
}

/**
 * The gRPC listener: Envoy's RateLimitService and the standard health service. Every
 * call is counted and timed like an HTTP request on the other listeners.
 */
export class GrpcServer {
  readonly #deps: GrpcDeps
  readonly #server = new Server({ 'grpc.max_receive_message_length': MAX_MESSAGE_BYTES })
  readonly #calls = new Set<ServerUnaryCall<unknown, unknown>>()

  constructor (deps: GrpcDeps) {
    this.#deps = deps
    const definition = loadProtos()
    // proto-loader types every entry as a union of service and message definitions; these two names are services in our .proto files.
    const rls = definition[RLS_SERVICE] as ServiceDefinition
    const health = definition[HEALTH_SERVICE] as ServiceDefinition
    this.#server.addService(rls, { ShouldRateLimit: this.#shouldRateLimit } satisfies UntypedServiceImplementation)
    this.#server.addService(health, { Check: this.#check } satisfies UntypedServiceImplementation)
  }

  /** Binds `HOST:PORT` (port 0: any free port); resolves with the address bound. */
  async listen (address: string): Promise<string> {
    const port = await new Promise<number>((resolve, reject) => {
      this.#server.bindAsync(address, ServerCredentials.createInsecure(), (error, bound) => {
        if (error === null) resolve(bound)
        else reject(error)
      })
    })
    return `${address.slice(0, address.lastIndexOf(':'))}:${port}`
  }

  /** Stops accepting calls and resolves once those in flight have been answered. */
  async close (): Promise<void> {
    await new Promise<void>((resolve) => {
      this.#server.tryShutdown(() => { resolve() })
    })
  }

  /** Cancels every call still in flight and closes at once; returns how many were cut. */
  cutAll (): number {
    const cut = this.#calls.size
    this.#server.forceShutdown()
    this.#calls.clear()
    return cut
  }

  #count (route: string, code: number, started: number): void {
    const labels = { listener: 'grpc', method: 'POST', route, status_code: code }
    this.#deps.metrics.httpRequests.inc(labels)
    this.#deps.metrics.httpDuration.observe(labels, (performance.now() - started) / 1000)
  }

  readonly #shouldRateLimit = (call: ServerUnaryCall<RateLimitRequest, RateLimitResponse>, callback: sendUnaryData<RateLimitResponse>): void => {
    const started = performance.now()
    const { log, metrics } = this.#deps
    this.#calls.add(call)
    const done = (code: number): void => {
      this.#calls.delete(call)
      this.#count(SHOULD_RATE_LIMIT, code, started)
    }
    shouldRateLimit(this.#deps.currentRuntime(), call.request).then((answer) => {
      for (const d of answer.decisions) metrics.decisions.inc(d)
      log.debug({ domain: call.request.domain, descriptors: call.request.descriptors.length, code: answer.response.overall_code }, 'ShouldRateLimit')
      callback(null, answer.response)
      done(answer.response.overall_code === 'OK' ? 200 : 429)
    }, (error: unknown) => {
      const invalid = error instanceof InvalidRequest
      // The message of anything but our own validation stays in the log: it may name internals.
      if (!invalid) log.error({ err: error }, 'ShouldRateLimit failed')
      const code = invalid ? status.INVALID_ARGUMENT : status.INTERNAL
      callback({ code, details: invalid ? error.message : 'internal error in tollgate' })
      done(HTTP_EQUIVALENT[code] ?? 500)
    })
  }

  readonly #check = (call: ServerUnaryCall<{ service: string }, { status: string }>, callback: sendUnaryData<{ status: string }>): void => {
    const started = performance.now()
    const service = call.request.service
    // '' asks about the server as a whole (Kubernetes' grpc probe); a named service must be one we serve.
    if (service !== '' && service !== RLS_SERVICE && service !== HEALTH_SERVICE) {
      callback({ code: status.NOT_FOUND, details: `unknown service ${service.slice(0, 100)}` })
      this.#count(HEALTH_CHECK, 404, started)
      return
    }
    callback(null, { status: this.#deps.draining() ? 'NOT_SERVING' : 'SERVING' })
    this.#count(HEALTH_CHECK, 200, started)
  }
}
