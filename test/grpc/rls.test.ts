import t, { type Test } from 'tap'
import { GrpcServer } from '../../src/grpc'
import { buildTestApp, capturedLog, testConfig } from '../helpers/app'
import { descriptor, rlsClient, type RlsClient } from './client'

// Envoy's ShouldRateLimit against the gRPC server built in process beside the app
// (embedded store), through a real grpc-js client on our .proto files and a real socket.

const CONFIG = `
plans:
  anonymous: [ { max: 3, per: 1m } ]
  free: [ { max: 2, per: 1h, algorithm: fixed } ]
  pro: [ { max: 5, per: 10s } ]
  search: [ { max: 1, per: 1d, algorithm: fixed } ]
keys:
  - { name: acme, key: acme-key, plan: pro }
  - { name: demo, key: demo-key, plan: free }
  - { name: metered, key: metered-key, plan: pro }
rls:
  domains:
    edge:
      - match: [ { key: api_key } ]
      - match: [ { key: remote_address } ]
        plan: anonymous
      - match: [ { key: header_match, value: search }, { key: api_key } ]
        plan: search
      - match: [ { key: generic_key, value: health } ]
        unlimited: true
      - match: [ { key: generic_key, value: beta } ]
        plan: free
        shadow: true
`

interface Started {
  readonly client: RlsClient
  /** The admin port's `/metrics` body. */
  metricsText(): Promise<string>
  /** Every log line written so far, as JSON text. */
  logText(): string
}

async function boot (): Promise<Started> {
  const { log, logs } = capturedLog()
  const { app, metrics, currentRuntime } = await buildTestApp(t, testConfig(CONFIG), log)
  const grpc = new GrpcServer({ log, metrics, currentRuntime, draining: () => false })
  t.teardown(async () => { await grpc.close() })
  const address = await grpc.listen('127.0.0.1:0')
  return {
    client: rlsClient(t, address),
    metricsText: async () => (await app.admin.inject({ url: '/metrics' })).body,
    logText: () => logs.map((line) => JSON.stringify(line)).join('\n')
  }
}

// One server for the whole file: each test uses its own keys and addresses, so none
// sees another's budget.
let shared: Promise<Started> | undefined
async function start (_t: Test): Promise<Started> {
  shared ??= boot()
  return await shared
}

t.test('one descriptor: an API key spends its plan, in its own scope, with the proxy\'s headers', async (t) => {
  const { client } = await start(t)
  const first = await client.should('edge', [descriptor(['api_key', 'demo-key'])])
  t.equal(first.overall_code, 'OK')
  t.match(first.statuses, [{ code: 'OK', current_limit: { name: 'free-1h', requests_per_unit: 2, unit: 'HOUR' }, limit_remaining: 1 }])
  const headers = Object.fromEntries(first.response_headers_to_add.map((h) => [h.key, h.value]))
  t.equal(headers['ratelimit-policy'], '"free-1h";q=2;w=3600')
  t.match(headers.ratelimit, /^"free-1h";r=1;t=\d+$/)
  t.equal(headers['x-ratelimit-remaining'], '1')
  t.notOk('retry-after' in headers)

  await client.should('edge', [descriptor(['api_key', 'demo-key'])])
  const over = await client.should('edge', [descriptor(['api_key', 'demo-key'])])
  t.equal(over.overall_code, 'OVER_LIMIT')
  t.equal(over.statuses[0]?.code, 'OVER_LIMIT')
  t.equal(over.statuses[0]?.limit_remaining, 0)
  // A fixed 1h window resets at the top of the hour (UTC).
  const untilHour = Math.ceil((3_600_000 - (Date.now() % 3_600_000)) / 1000)
  const seconds = over.statuses[0]?.duration_until_reset?.seconds ?? -1
  t.ok(Math.abs(seconds - untilHour) <= 3, `duration_until_reset ${seconds}s, the hour ends in ${untilHour}s`)
  const overHeaders = Object.fromEntries(over.response_headers_to_add.map((h) => [h.key, h.value]))
  t.equal(overHeaders['retry-after'], String(seconds))
  t.match(JSON.parse(over.raw_body.toString()), { error: 'rate_limited', policy: 'free-1h', retry_after: seconds })
})

t.test('several descriptors: all decided at once, OVER_LIMIT if any is, and then none spends', async (t) => {
  const { client } = await start(t)
  const ip = descriptor(['remote_address', '10.0.0.7'])
  const key = descriptor(['api_key', 'acme-key'])
  const search = descriptor(['header_match', 'search'], ['api_key', 'acme-key'])
  const both = await client.should('edge', [ip, key, search])
  t.equal(both.overall_code, 'OK')
  t.match(both.statuses, [
    { code: 'OK', current_limit: { name: 'anonymous-1m' }, limit_remaining: 2 },
    // 5 per 10s is reported in Envoy's nearest unit: 30 per MINUTE.
    { code: 'OK', current_limit: { name: 'pro-10s', requests_per_unit: 30, unit: 'MINUTE' }, limit_remaining: 4 },
    { code: 'OK', current_limit: { name: 'search-1d', requests_per_unit: 1, unit: 'DAY' }, limit_remaining: 0 }
  ])
  const refused = await client.should('edge', [ip, key, search])
  t.equal(refused.overall_code, 'OVER_LIMIT')
  t.match(refused.statuses, [{ code: 'OK', limit_remaining: 2 }, { code: 'OK', limit_remaining: 4 }, { code: 'OVER_LIMIT', limit_remaining: 0 }],
    'the others fit but spent nothing: their remaining did not move')
  const after = await client.should('edge', [ip, key])
  t.match(after.statuses, [{ code: 'OK', limit_remaining: 1 }, { code: 'OK', limit_remaining: 3 }], 'the refused call spent nothing anywhere')
})

t.test('hits_addend spends that many; 0 (unset) means 1', async (t) => {
  const { client } = await start(t)
  const ip = descriptor(['remote_address', '10.0.0.8'])
  t.equal((await client.should('edge', [ip], 0)).statuses[0]?.limit_remaining, 2)
  t.equal((await client.should('edge', [ip], 2)).statuses[0]?.limit_remaining, 0)
  const over = await client.should('edge', [descriptor(['remote_address', '10.0.0.9'])], 4)
  t.equal(over.overall_code, 'OVER_LIMIT', 'more than the window holds')
  const huge = await client.fails('edge', [ip], 2_000_000_000)
  t.equal(huge.code, 3, 'INVALID_ARGUMENT past the stores\' bound')
})

t.test('unknown domain, unmatched and unlimited descriptors are OK and spend nothing', async (t) => {
  const { client } = await start(t)
  const unknown = await client.should('nowhere', [descriptor(['remote_address', '10.0.0.1'])])
  t.equal(unknown.overall_code, 'OK')
  t.match(unknown.statuses, [{ code: 'OK', current_limit: null, limit_remaining: 0 }])
  t.same(unknown.response_headers_to_add, [])
  const unmatched = await client.should('edge', [descriptor(['destination_cluster', 'app']), descriptor(['remote_address', '10.0.0.1'], ['path', '/x'])])
  t.equal(unmatched.overall_code, 'OK')
  t.match(unmatched.statuses, [{ code: 'OK', current_limit: null }, { code: 'OK', current_limit: null }])
  for (let i = 0; i < 5; i++) t.equal((await client.should('edge', [descriptor(['generic_key', 'health'])])).overall_code, 'OK')
  // The shadow rule counts past its limit but never refuses.
  const beta = descriptor(['generic_key', 'beta'])
  const codes = []
  for (let i = 0; i < 4; i++) codes.push((await client.should('edge', [beta])).overall_code)
  t.strictSame(codes, ['OK', 'OK', 'OK', 'OK'])
})

t.test('an unknown or malformed key is refused, named nowhere; bad requests are INVALID_ARGUMENT', async (t) => {
  const { client, metricsText, logText } = await start(t)
  const bad = await client.should('edge', [descriptor(['api_key', 'not-a-key-of-ours']), descriptor(['remote_address', '10.0.0.2'])])
  t.equal(bad.overall_code, 'OVER_LIMIT')
  t.match(bad.statuses, [{ code: 'OVER_LIMIT' }, { code: 'OK' }])
  t.match(JSON.parse(bad.raw_body.toString()), { error: 'invalid_api_key' })
  t.equal((await client.should('edge', [descriptor(['remote_address', '10.0.0.2'])])).statuses[0]?.limit_remaining, 2, 'the refused call spent nothing')
  t.equal((await client.should('edge', [descriptor(['api_key', 'x'.repeat(300)])])).overall_code, 'OVER_LIMIT')

  t.equal((await client.fails('', [descriptor(['remote_address', '1'])])).code, 3)
  t.equal((await client.fails('edge', [])).code, 3)
  t.equal((await client.fails('edge', [{ entries: [] }])).code, 3)
  t.equal((await client.fails('edge', Array.from({ length: 65 }, () => descriptor(['remote_address', '1'])))).code, 3)
  t.equal((await client.fails('edge', [descriptor(['remote_address', 'v'.repeat(2000)])])).code, 3)

  const body = await metricsText()
  t.match(body, /tollgate_ratelimit_decisions_total\{client="unknown",plan="none",decision="unauthenticated"\} 2/)
  t.match(body, /tollgate_http_requests_total\{listener="grpc",method="POST",route="\/envoy.service.ratelimit.v3.RateLimitService\/ShouldRateLimit",status_code="400"\} \d+/)
  t.match(body, /tollgate_http_requests_total\{listener="grpc",method="POST",route="\/envoy.service.ratelimit.v3.RateLimitService\/ShouldRateLimit",status_code="429"\} \d+/)
  t.notMatch(body + logText(), /not-a-key-of-ours/, 'the key is in no metric and no log line')
})

t.test('metrics: decisions by client and plan, calls by listener="grpc"', async (t) => {
  const { client, metricsText } = await start(t)
  const count = async (pattern: RegExp): Promise<number> => Number(pattern.exec(await metricsText())?.[1] ?? 0)
  const calls = /tollgate_http_requests_total\{listener="grpc",method="POST",route="\/envoy.service.ratelimit.v3.RateLimitService\/ShouldRateLimit",status_code="200"\} (\d+)/
  const before = await count(calls)
  for (let i = 0; i < 3; i++) await client.should('edge', [descriptor(['api_key', 'metered-key'])])
  await client.should('edge', [descriptor(['remote_address', '10.1.1.1'])])
  t.equal(await count(/tollgate_ratelimit_decisions_total\{client="metered",plan="pro",decision="allowed"\} (\d+)/), 3)
  t.equal(await count(calls) - before, 4)
  const body = await metricsText()
  t.match(body, /tollgate_ratelimit_decisions_total\{client="anonymous",plan="anonymous",decision="allowed"\} \d+/)
  t.notMatch(body, /10\.1\.1\.1/, 'the address is in no label')
})

t.test('gRPC health: SERVING; an unknown service is NOT_FOUND', async (t) => {
  const { client } = await start(t)
  t.equal(await client.health(), 'SERVING')
  t.equal(await client.health('envoy.service.ratelimit.v3.RateLimitService'), 'SERVING')
  await t.rejects(client.health('nope.Service'), { code: 5 })
})
