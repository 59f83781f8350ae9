import t from 'tap'
import { inProcess } from '../helpers/app'
import { get } from '../helpers/http'
import { startUpstream } from '../helpers/upstream'

// Tracing off (this process never enables it): nothing of the SDK is loaded, and the
// client's trace context reaches the app untouched.

t.test('off: the client\'s traceparent and tracestate reach the upstream byte for byte; no SDK module loaded', async (t) => {
  const upstream = await startUpstream(t)
  const tollgate = await inProcess(t, `
upstream: { url: ${upstream.url} }
plans: { free: [ { max: 5, per: 1m } ] }
keys: [ { name: acme, key: acme-key, plan: free } ]`)
  const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'
  const res = await get(`${tollgate.proxyUrl}/echo`, { 'x-api-key': 'acme-key', traceparent, tracestate: 'a=1,b=2' })
  t.equal(res.status, 200)
  const raw = upstream.requests.at(-1)?.rawHeaders ?? []
  const value = (name: string): string | undefined => raw[raw.findIndex((h, i) => i % 2 === 0 && h.toLowerCase() === name) + 1]
  t.equal(value('traceparent'), traceparent)
  t.equal(value('tracestate'), 'a=1,b=2')
  // The API alone is prom-client's (it looks for it, for exemplars): none of the SDK's parts.
  const loaded = Object.keys(require.cache).filter((path) => /@opentelemetry\/(sdk|core|resources|exporter|otlp)/.test(path))
  t.same(loaded, [], 'no SDK module in require.cache')
  t.ok(Object.keys(require.cache).some((path) => path.includes('/src/observe/tracing')), 'while tollgate\'s tracing module is loaded')
})
