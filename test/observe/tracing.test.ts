import t from 'tap'
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace'
import { enableTracing, stopTracing } from '../../src/observe/tracing'
import { inProcess } from '../helpers/app'
import { get, postJson } from '../helpers/http'
import { deadPort, startUpstream } from '../helpers/upstream'

// Tracing on, in this process: spans go to an in-memory exporter, one by one as they end.
const exporter = new InMemorySpanExporter()
enableTracing(exporter, false)
t.teardown(async () => { await stopTracing() })

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736'
const CLIENT_SPAN = '00f067aa0ba902b7'
const TRACEPARENT = `00-${TRACE_ID}-${CLIENT_SPAN}-01`
const KEY = 'sk-live-very-secret-key-7731'

const config = (upstream: string): string => `
upstream: { url: ${upstream}, timeout: 2s }
plans: { free: [ { max: 1, per: 1m } ] }
keys: [ { name: acme, key: ${KEY}, plan: free } ]`

function named (name: string): ReadableSpan[] {
  return exporter.getFinishedSpans().filter((span) => span.name === name)
}

/** Spans end when the response closes: give the close event its turn. */
async function settled (): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 50))
}

t.test('allowed: check and forward spans under the client\'s traceparent, key nowhere; refused: check only', async (t) => {
  exporter.reset()
  const upstream = await startUpstream(t)
  const tollgate = await inProcess(t, config(upstream.url))
  const res = await get(`${tollgate.proxyUrl}/echo`, { 'x-api-key': KEY, traceparent: TRACEPARENT, tracestate: 'vendor=1' })
  t.equal(res.status, 200)
  await settled()
  const [check, ...moreChecks] = named('tollgate.check')
  const [forward, ...moreForwards] = named('tollgate.forward')
  if (check === undefined || forward === undefined) throw new Error('missing spans')
  t.same([moreChecks.length, moreForwards.length], [0, 0], 'one of each')
  for (const span of [check, forward]) {
    t.equal(span.spanContext().traceId, TRACE_ID, `${span.name} in the client's trace`)
    t.equal(span.parentSpanContext?.spanId, CLIENT_SPAN, `${span.name} is a child of the client's span`)
  }
  t.same(check.attributes, { 'tollgate.route': 'default', 'tollgate.decision': 'allowed', 'tollgate.client': 'acme', 'tollgate.plan': 'free' })
  t.equal(forward.attributes['http.response.status_code'], 200)
  t.equal(forward.attributes['server.address'], '127.0.0.1')
  t.equal(forward.status.code, 0, 'forward status UNSET')
  const seen = upstream.requests.at(-1)?.headers
  t.equal(seen?.traceparent, `00-${TRACE_ID}-${forward.spanContext().spanId}-01`, 'the upstream\'s parent is the forward span')
  t.equal(seen?.tracestate, 'vendor=1')

  const refused = await get(`${tollgate.proxyUrl}/echo`, { 'x-api-key': KEY, traceparent: TRACEPARENT })
  t.equal(refused.status, 429)
  await settled()
  t.equal(named('tollgate.forward').length, 1, 'no forward span for a refusal')
  const refusedCheck = named('tollgate.check')[1]
  t.equal(refusedCheck?.attributes['tollgate.decision'], 'limited', 'the metrics label of a 429')
  t.equal(refusedCheck?.status.code, 0, 'a refusal is a decision, not an error')

  const everything = JSON.stringify(exporter.getFinishedSpans().map((span) => ({ name: span.name, attributes: span.attributes, events: span.events, resource: span.resource.attributes })))
  t.notOk(everything.includes(KEY), 'the key appears in no span')
  t.notOk(everything.includes('sk-live'), 'nor any part of it')
})

t.test('upstream down: the forward span ends with status ERROR, the check span is allowed', async (t) => {
  exporter.reset()
  const tollgate = await inProcess(t, config(`http://127.0.0.1:${await deadPort()}`))
  const res = await get(`${tollgate.proxyUrl}/x`, { 'x-api-key': KEY })
  t.equal(res.status, 502)
  await settled()
  const [forward] = named('tollgate.forward')
  t.equal(forward?.status.code, 2, 'ERROR')
  t.equal(forward?.attributes['http.response.status_code'], undefined, 'no response came')
  t.equal(named('tollgate.check')[0]?.attributes['tollgate.decision'], 'allowed')
  t.notOk(forward?.parentSpanContext, 'no traceparent in: a root span')
})

t.test('decision API: GET /v1/authorize gets a check span under the gateway\'s traceparent, and no forward span', async (t) => {
  exporter.reset()
  const tollgate = await inProcess(t, `
plans: { free: [ { max: 1, per: 1m } ] }
keys: [ { name: acme, key: ${KEY}, plan: free } ]`)
  const ask = async (): Promise<number> => (await get(`${tollgate.proxyUrl}/v1/authorize`, {
    'x-original-method': 'GET', 'x-original-uri': '/orders', 'x-api-key': KEY, traceparent: TRACEPARENT
  })).status
  t.same([await ask(), await ask()], [200, 429])
  await settled()
  const checks = named('tollgate.check')
  t.same(checks.map((span) => span.attributes['tollgate.decision']), ['allowed', 'limited'])
  t.ok(checks.every((span) => span.spanContext().traceId === TRACE_ID && span.parentSpanContext?.spanId === CLIENT_SPAN), 'children of the gateway\'s span')
  t.same(checks.map((span) => span.status.code), [0, 0], 'a 429 is a decision, not an error')
  t.equal(named('tollgate.forward').length, 0)
})

t.test('a client that leaves mid-forward ends the forward span, marked client_closed', async (t) => {
  exporter.reset()
  const upstream = await startUpstream(t)
  const tollgate = await inProcess(t, config(upstream.url))
  const aborted = get(`${tollgate.proxyUrl}/slow/1500`, { 'x-api-key': KEY }, { signal: AbortSignal.timeout(200) })
  await t.rejects(aborted)
  await settled()
  const [forward] = named('tollgate.forward')
  t.equal(forward?.attributes['tollgate.client_closed'], true)
  t.equal(forward?.attributes['http.response.status_code'], undefined, 'the app had not answered')
})

t.test('decision API: POST /v1/check gets a check span; the key in its body appears in no span', async (t) => {
  exporter.reset()
  const tollgate = await inProcess(t, `
plans: { free: [ { max: 1, per: 1m } ] }
keys: [ { name: acme, key: ${KEY}, plan: free } ]`)
  const ask = async (): Promise<number> => (await postJson(`${tollgate.proxyUrl}/v1/check`, { key: KEY, method: 'GET', path: '/orders' }, { traceparent: TRACEPARENT })).status
  t.same([await ask(), await ask()], [200, 200], 'a refusal is still a 200 answer')
  await settled()
  const checks = named('tollgate.check')
  t.same(checks.map((span) => [span.attributes['tollgate.decision'], span.attributes['tollgate.client'], span.parentSpanContext?.spanId]), [
    ['allowed', 'acme', CLIENT_SPAN], ['limited', 'acme', CLIENT_SPAN]
  ])
  t.notOk(JSON.stringify(checks.map((span) => span.attributes)).includes(KEY), 'no key')
})

t.test('Redis gone under on_redis_error: deny: the 503 is a failed check (ERROR) on the proxy and the decision API alike', async (t) => {
  exporter.reset()
  const dead = `redis: { url: "redis://127.0.0.1:${await deadPort()}", timeout: 100ms }\non_redis_error: deny\n`
  const upstream = await startUpstream(t)
  const proxy = await inProcess(t, dead + config(upstream.url))
  t.equal((await get(`${proxy.proxyUrl}/echo`, { 'x-api-key': KEY })).status, 503)
  // Without an upstream, the proxy listener is the decision API.
  const decision = await inProcess(t, dead + 'plans: { free: [ { max: 1, per: 1m } ] }\nkeys: [ { name: acme, key: ' + KEY + ', plan: free } ]')
  t.equal((await get(`${decision.proxyUrl}/v1/authorize`, { 'x-original-method': 'GET', 'x-original-uri': '/orders', 'x-api-key': KEY })).status, 503)
  await settled()
  const checks = named('tollgate.check')
  t.equal(checks.length, 2, 'one check span each')
  t.same(checks.map((span) => span.status.code), [2, 2], 'both ERROR')
  t.equal(named('tollgate.forward').length, 0, 'nothing forwarded')
  t.equal(upstream.requests.length, 0)
})
