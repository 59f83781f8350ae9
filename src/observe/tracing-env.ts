import type { SpanExporter } from '@opentelemetry/sdk-trace'
import type { Logger } from './logger'
import { enableTracing, type Tracing } from './tracing'

type Env = Readonly<Record<string, string | undefined>>

/**
 * Which exporter the standard environment asks for (OpenTelemetry SDK environment
 * variables): `OTEL_SDK_DISABLED=true` turns everything off; `OTEL_TRACES_EXPORTER`
 * names otlp, console or none; unset, an OTLP endpoint variable means otlp, nothing
 * means off (tollgate's default, unlike the spec's otlp: a sidecar must not start
 * sending to localhost:4318 because an SDK was bundled).
 */
export function exporterKind (env: Env): 'otlp' | 'console' | undefined {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return undefined
  const named = env.OTEL_TRACES_EXPORTER?.split(',').map((name) => name.trim().toLowerCase()).filter((name) => name !== '')
  if (named === undefined || named.length === 0) {
    const endpoint = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? env.OTEL_EXPORTER_OTLP_ENDPOINT
    return endpoint === undefined || endpoint === '' ? undefined : 'otlp'
  }
  if (named.includes('none')) return undefined
  if (named.includes('otlp')) return 'otlp'
  return named.includes('console') ? 'console' : undefined
}

/** The OTLP/HTTP exporter of the protocol asked (http/protobuf by default); it reads its own endpoint and headers env. */
function otlpExporter (env: Env, log: Logger): SpanExporter | undefined {
  const protocol = (env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ?? env.OTEL_EXPORTER_OTLP_PROTOCOL ?? 'http/protobuf').trim()
  if (protocol === 'http/protobuf') return new (require('@opentelemetry/exporter-trace-otlp-proto') as typeof import('@opentelemetry/exporter-trace-otlp-proto')).OTLPTraceExporter()
  if (protocol === 'http/json') return new (require('@opentelemetry/exporter-trace-otlp-http') as typeof import('@opentelemetry/exporter-trace-otlp-http')).OTLPTraceExporter()
  log.warn({ protocol }, 'OTEL_EXPORTER_OTLP_PROTOCOL not supported (http/protobuf, http/json); traces off')
  return undefined
}

/** Turns tracing on when the environment asks for it; undefined (nothing loaded) otherwise. */
export function startTracing (env: Env, log: Logger): Tracing | undefined {
  const kind = exporterKind(env)
  if (kind === undefined) return undefined
  const exporter = kind === 'console' ? new (require('@opentelemetry/sdk-trace') as typeof import('@opentelemetry/sdk-trace')).ConsoleSpanExporter() : otlpExporter(env, log)
  if (exporter === undefined) return undefined
  log.info({ exporter: kind }, 'traces on')
  // The SDK 3.x no longer reads OTEL_BSP_SCHEDULE_DELAY itself.
  const delay = Number(env.OTEL_BSP_SCHEDULE_DELAY)
  return enableTracing(exporter, { scheduledDelayMillis: Number.isFinite(delay) && delay > 0 ? delay : undefined })
}
