import t from 'tap'
import { exporterKind } from '../../src/observe/tracing-env'

// The OTEL_ contract (OpenTelemetry SDK environment variables), with tollgate's one
// deviation: nothing set means off, not otlp to localhost.

t.test('which exporter the environment asks for', async (t) => {
  const cases: Array<[Record<string, string>, 'otlp' | 'console' | undefined]> = [
    [{}, undefined],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' }, 'otlp'],
    [{ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://c:4318/v1/traces' }, 'otlp'],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: '' }, undefined],
    [{ OTEL_TRACES_EXPORTER: 'otlp' }, 'otlp'],
    [{ OTEL_TRACES_EXPORTER: ' Console ' }, 'console'],
    [{ OTEL_TRACES_EXPORTER: 'console,otlp' }, 'otlp'],
    [{ OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' }, undefined],
    [{ OTEL_TRACES_EXPORTER: 'zipkin' }, undefined],
    [{ OTEL_SDK_DISABLED: 'TRUE', OTEL_TRACES_EXPORTER: 'otlp' }, undefined],
    [{ OTEL_SDK_DISABLED: 'false', OTEL_TRACES_EXPORTER: 'otlp' }, 'otlp']
  ]
  for (const [env, kind] of cases) t.equal(exporterKind(env), kind, JSON.stringify(env))
})
