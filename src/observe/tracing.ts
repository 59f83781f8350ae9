import type { IncomingHttpHeaders } from 'node:http'
import type { Context, Span, Tracer, TextMapPropagator } from '@opentelemetry/api'
import type { SpanExporter, TracerProvider } from '@opentelemetry/sdk-trace'
import { messageOf, TollgateError } from '../errors'
import type { RequestFacts } from './requests'

/**
 * OpenTelemetry traces, off unless the standard OTEL_ environment asks (see
 * `exporterFromEnv`). Off, no SDK module is ever loaded (every `require` here is lazy)
 * and the hot path pays one `activeTracing() === undefined` check. On, each request
 * gets a `tollgate.check` span (the limit decision) and, when forwarded, a
 * `tollgate.forward` span; both are children of the client's `traceparent`.
 * Attributes name the client and plan, never the key nor a raw header.
 */

/** Bounds the flush at shutdown: a dead collector must not hold a SIGTERM. */
export const FLUSH_TIMEOUT_MS = 2000

type Api = typeof import('@opentelemetry/api')

/**
 * Whether a check ended in a failure (span status ERROR) rather than a decision: a 401,
 * 403 or 429 is the answer; a 5xx (Redis gone under `deny`, an overload) or anything
 * that is not a TollgateError is a failure. The proxy and the decision API both end
 * their check spans through `endCheck`, so both classify alike.
 */
function checkFailed (error: unknown): boolean {
  if (error === undefined) return false
  return !(error instanceof TollgateError) || error.statusCode >= 500
}

export class Tracing {
  readonly #api: Api
  readonly #tracer: Tracer
  readonly #provider: TracerProvider
  readonly #propagator: TextMapPropagator

  /** `batch: false` exports each span as it ends (tests); otherwise batched, every `scheduledDelayMillis` (default 5 s). */
  constructor (exporter: SpanExporter, batch: false | { readonly scheduledDelayMillis?: number }) {
    const api = require('@opentelemetry/api') as Api
    const sdk = require('@opentelemetry/sdk-trace') as typeof import('@opentelemetry/sdk-trace')
    const core = require('@opentelemetry/core') as typeof import('@opentelemetry/core')
    const resources = require('@opentelemetry/resources') as typeof import('@opentelemetry/resources')
    this.#api = api
    const processor = batch !== false ? new sdk.BatchSpanProcessor({ exporter, scheduledDelayMillis: batch.scheduledDelayMillis }) : new sdk.SimpleSpanProcessor({ exporter })
    // OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES still win: the env detector reads them.
    const resource = resources.resourceFromAttributes({ 'service.name': 'tollgate' }).merge(resources.detectResources({ detectors: [resources.envDetector] }))
    this.#provider = new sdk.TracerProvider({ resource, spanProcessors: [processor] })
    this.#tracer = this.#provider.getTracer('tollgate')
    this.#propagator = new core.W3CTraceContextPropagator()
  }

  /** The client's trace context (`traceparent`, `tracestate`), or the root one. */
  #parentOf (headers: IncomingHttpHeaders): Context {
    return this.#propagator.extract(this.#api.ROOT_CONTEXT, headers, this.#api.defaultTextMapGetter)
  }

  startCheck (headers: IncomingHttpHeaders): Span {
    return this.#tracer.startSpan('tollgate.check', { kind: this.#api.SpanKind.INTERNAL }, this.#parentOf(headers))
  }

  /** Ends a check span with what metrics see of the request: no key, no IP. */
  endCheck (span: Span, facts: RequestFacts | undefined, error?: unknown): void {
    if (facts !== undefined) {
      span.setAttribute('tollgate.route', facts.route)
      if (facts.decision !== undefined) {
        span.setAttributes({
          'tollgate.decision': facts.decision.label,
          'tollgate.client': facts.decision.client,
          'tollgate.plan': facts.decision.plan
        })
      }
    }
    if (checkFailed(error)) span.setStatus({ code: this.#api.SpanStatusCode.ERROR, message: messageOf(error) })
    span.end()
  }

  /** Runs one decision (the decision API) inside a check span. */
  async traceCheck<T> (headers: IncomingHttpHeaders, facts: () => RequestFacts | undefined, decide: () => Promise<T>): Promise<T> {
    const span = this.startCheck(headers)
    let thrown: unknown
    try {
      return await decide()
    } catch (error) {
      thrown = error
      throw error
    } finally {
      this.endCheck(span, facts(), thrown)
    }
  }

  /**
   * A forward span for the upstream call, and the `traceparent` (+ `tracestate`) the
   * upstream gets in place of the client's: its parent is this span.
   */
  startForward (headers: IncomingHttpHeaders, upstream: URL, method: string): { span: Span, outgoing: Record<string, string> } {
    const parent = this.#parentOf(headers)
    const span = this.#tracer.startSpan('tollgate.forward', {
      kind: this.#api.SpanKind.CLIENT,
      attributes: { 'http.request.method': method, 'server.address': upstream.hostname, 'server.port': portOf(upstream) }
    }, parent)
    const outgoing: Record<string, string> = {}
    this.#propagator.inject(this.#api.trace.setSpan(parent, span), outgoing, this.#api.defaultTextMapSetter)
    return { span, outgoing }
  }

  /** Ends a forward span: the app's status, or why none came (ERROR), or the client left. */
  endForward (span: Span, statusCode: number | undefined, outcome: 'answered' | 'error' | 'client_closed', message?: string): void {
    if (statusCode !== undefined) span.setAttribute('http.response.status_code', statusCode)
    if (outcome === 'client_closed') span.setAttribute('tollgate.client_closed', true)
    if (outcome === 'error' || (statusCode !== undefined && statusCode >= 500)) span.setStatus({ code: this.#api.SpanStatusCode.ERROR, message })
    span.end()
  }

  /** Exports what is queued, within `timeoutMs`, then stops: never throws. */
  async shutdown (timeoutMs = FLUSH_TIMEOUT_MS): Promise<void> {
    let timer: NodeJS.Timeout | undefined
    const bounded = new Promise<void>((resolve) => { timer = setTimeout(resolve, timeoutMs) })
    await Promise.race([this.#provider.shutdown().catch(() => {}), bounded])
    clearTimeout(timer)
  }
}

/** The URL's port, or its scheme's default (the URL leaves it empty then). */
function portOf (url: URL): number {
  if (url.port !== '') return Number(url.port)
  return url.protocol === 'https:' ? 443 : 80
}

let active: Tracing | undefined

/** The tracing in force, or undefined when off: the hot path's one check. */
export function activeTracing (): Tracing | undefined {
  return active
}

/** Turns tracing on with this exporter (tests, and `startTracing`). */
export function enableTracing (exporter: SpanExporter, batch: ConstructorParameters<typeof Tracing>[1]): Tracing {
  active = new Tracing(exporter, batch)
  return active
}

/** Flushes and turns tracing off: the server's stop() calls it. */
export async function stopTracing (timeoutMs = FLUSH_TIMEOUT_MS): Promise<void> {
  const tracing = active
  active = undefined
  await tracing?.shutdown(timeoutMs)
}
