import { createServer, type IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import t, { type Test } from 'tap'
import { startTollgate } from '../helpers/child'
import { get } from '../helpers/http'
import { LISTEN } from '../helpers/stack'
import { startUpstream } from '../helpers/upstream'

// The real CLI exporting OTLP/HTTP (protobuf, the default) to a receiver written here.
// The receiver decodes the protobuf wire format itself, so the test does not trust the
// exporter's own encoder to check it.

interface ReceivedSpan { traceId: string, spanId: string, parentSpanId: string, name: string }

/** Field number → values, of one protobuf message (only length-delimited values kept). */
function fields (buffer: Buffer): Map<number, Buffer[]> {
  const out = new Map<number, Buffer[]>()
  let at = 0
  const varint = (): number => {
    let value = 0
    let shift = 0
    for (;;) {
      const byte = buffer[at++] ?? 0
      value += (byte & 0x7f) * 2 ** shift
      if (byte < 0x80) return value
      shift += 7
    }
  }
  while (at < buffer.length) {
    const tag = varint()
    const wire = tag & 7
    if (wire === 0) varint()
    else if (wire === 1) at += 8
    else if (wire === 5) at += 4
    else if (wire === 2) {
      const length = varint()
      const list = out.get(tag >>> 3) ?? []
      list.push(buffer.subarray(at, at + length))
      out.set(tag >>> 3, list)
      at += length
    } else throw new Error(`wire type ${wire}`)
  }
  return out
}

/** ExportTraceServiceRequest{1: ResourceSpans{2: ScopeSpans{2: Span{1 trace_id, 2 span_id, 4 parent_span_id, 5 name}}}}. */
function decodeSpans (body: Buffer): ReceivedSpan[] {
  const spans: ReceivedSpan[] = []
  for (const resourceSpans of fields(body).get(1) ?? []) {
    for (const scopeSpans of fields(resourceSpans).get(2) ?? []) {
      for (const span of fields(scopeSpans).get(2) ?? []) {
        const f = fields(span)
        const hex = (n: number): string => f.get(n)?.[0]?.toString('hex') ?? ''
        spans.push({ traceId: hex(1), spanId: hex(2), parentSpanId: hex(4), name: f.get(5)?.[0]?.toString('utf8') ?? '' })
      }
    }
  }
  return spans
}

interface JsonRequest { resourceSpans?: Array<{ scopeSpans?: Array<{ spans?: ReceivedSpan[] }> }> }

/** OTLP/JSON: the same tree, ids as hex strings. */
function jsonSpans (data: Buffer): ReceivedSpan[] {
  const request = JSON.parse(data.toString('utf8')) as JsonRequest
  return (request.resourceSpans ?? []).flatMap((r) => (r.scopeSpans ?? []).flatMap((s) => (s.spans ?? []).map((span) => ({
    traceId: span.traceId, spanId: span.spanId, parentSpanId: span.parentSpanId, name: span.name
  }))))
}

async function body (req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of req) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}

async function startReceiver (t: Test): Promise<{ url: string, spans: ReceivedSpan[], posts: Array<{ path: string, type: string }> }> {
  const spans: ReceivedSpan[] = []
  const posts: Array<{ path: string, type: string }> = []
  const server = createServer((req, res) => {
    void body(req).then((data) => {
      posts.push({ path: req.url ?? '', type: req.headers['content-type'] ?? '' })
      spans.push(...(req.headers['content-type'] === 'application/json' ? jsonSpans(data) : decodeSpans(data)))
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => { await new Promise((resolve) => server.close(resolve)) })
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, spans, posts }
}

async function until (what: string, ok: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736'
const TRACEPARENT = `00-${TRACE_ID}-00f067aa0ba902b7-01`
const config = (upstream: string): string => `${LISTEN}
upstream: ${upstream}
plans: { free: [ { max: 10, per: 1m } ] }
keys: [ { name: acme, key: acme-key, plan: free } ]
shutdown: { drain_delay: 0s }`

t.test('OTEL_EXPORTER_OTLP_ENDPOINT: a request arrives at the receiver as protobuf check + forward spans in the client\'s trace', async (t) => {
  const receiver = await startReceiver(t)
  const upstream = await startUpstream(t)
  const tollgate = await startTollgate(t, { configYaml: config(upstream.url), env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_BSP_SCHEDULE_DELAY: '100' } })
  t.ok(tollgate.logs().some((line) => line.msg === 'traces on' && line.exporter === 'otlp'), 'says traces are on')
  t.equal((await get(`${tollgate.proxyUrl}/a`, { 'x-api-key': 'acme-key', traceparent: TRACEPARENT })).status, 200)
  await until('two spans', () => receiver.spans.length >= 2, 10_000)
  t.same(receiver.spans.map((span) => span.name).sort(), ['tollgate.check', 'tollgate.forward'])
  for (const span of receiver.spans) {
    t.equal(span.traceId, TRACE_ID, `${span.name}: the client's trace id`)
    t.equal(span.parentSpanId, '00f067aa0ba902b7', `${span.name}: the client's span is its parent`)
  }
  t.same(receiver.posts[0], { path: '/v1/traces', type: 'application/x-protobuf' })
})

t.test('OTEL_EXPORTER_OTLP_PROTOCOL=http/json: the same spans, as OTLP/JSON', async (t) => {
  const receiver = await startReceiver(t)
  const upstream = await startUpstream(t)
  const env = { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_BSP_SCHEDULE_DELAY: '100' }
  const tollgate = await startTollgate(t, { configYaml: config(upstream.url), env })
  t.equal((await get(`${tollgate.proxyUrl}/j`, { 'x-api-key': 'acme-key', traceparent: TRACEPARENT })).status, 200)
  await until('two spans', () => receiver.spans.length >= 2, 10_000)
  t.same(receiver.posts[0], { path: '/v1/traces', type: 'application/json' })
  t.same(receiver.spans.map((span) => [span.name, span.traceId, span.parentSpanId]).sort(), [
    ['tollgate.check', TRACE_ID, '00f067aa0ba902b7'], ['tollgate.forward', TRACE_ID, '00f067aa0ba902b7']
  ])
})

t.test('SIGTERM flushes the spans of a request sent just before it (the batch delay is 60 s)', async (t) => {
  const receiver = await startReceiver(t)
  const upstream = await startUpstream(t)
  const tollgate = await startTollgate(t, { configYaml: config(upstream.url), env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_BSP_SCHEDULE_DELAY: '60000' } })
  t.equal((await get(`${tollgate.proxyUrl}/b`, { 'x-api-key': 'acme-key', traceparent: TRACEPARENT })).status, 200)
  t.equal(receiver.spans.length, 0, 'nothing exported yet')
  tollgate.signal('SIGTERM')
  const exit = await tollgate.exited
  t.equal(exit.code, 0)
  t.same(receiver.spans.map((span) => span.name).sort(), ['tollgate.check', 'tollgate.forward'], 'both spans arrived before the exit')
})

t.test('a collector that never answers does not hold the SIGTERM past the 2 s flush bound', async (t) => {
  // Accepts the export and never answers it: the worst collector, a hung one.
  const hung = createServer(() => {})
  await new Promise<void>((resolve) => hung.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => { hung.closeAllConnections(); await new Promise((resolve) => hung.close(resolve)) })
  const upstream = await startUpstream(t)
  const endpoint = `http://127.0.0.1:${(hung.address() as AddressInfo).port}`
  const tollgate = await startTollgate(t, { configYaml: config(upstream.url), env: { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_BSP_SCHEDULE_DELAY: '60000' } })
  t.equal((await get(`${tollgate.proxyUrl}/c`, { 'x-api-key': 'acme-key' })).status, 200)
  const started = Date.now()
  tollgate.signal('SIGTERM')
  const exit = await tollgate.exited
  const took = Date.now() - started
  t.equal(exit.code, 0)
  t.ok(took >= 1900 && took < 4500, `exited in ${took} ms: the flush waited its 2 s, no more`)
})
