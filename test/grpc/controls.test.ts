import t from 'tap'
import { ERRORS } from '../../src/errors'
import { startTollgate, type Tollgate } from '../helpers/child'
import { get, send } from '../helpers/http'
import { startRedis } from '../helpers/redis'
import { descriptor, grpcAddressOf, rlsClient, type Reply } from './client'

// The operator's controls hold on Envoy's ShouldRateLimit as on the proxy: an IP or
// CIDR ban refuses a `remote_address` descriptor of an anonymous call (a key holder is
// banned by its name only), and a client's override replaces its plan's windows, until
// its expiry. Real child processes, a real grpc-js client, the embedded store and a
// real Redis shared by two replicas.

const config = (redis = ''): string => `
listen: { proxy: 127.0.0.1:0, admin: 127.0.0.1:0, grpc: 127.0.0.1:0 }
shutdown: { drain_delay: 0s, grace: 1s }
${redis === '' ? '' : `redis: "${redis}"`}
plans:
  anonymous: [ { max: 100, per: 1m } ]
  free: [ { max: 2, per: 1m } ]
  pro: [ { max: 5, per: 1m } ]
keys:
  - { name: acme, key: acme-key, plan: free }
  - { name: zeta, key: zeta-key, plan: free }
rls:
  domains:
    edge:
      - match: [ { key: api_key } ]
      - match: [ { key: remote_address } ]
        plan: anonymous
`

const put = async (g: Tollgate, path: string, body: unknown): Promise<Record<string, unknown>> => {
  const res = await send('PUT', `${g.adminUrl}${path}`, { 'content-type': 'application/json' }, JSON.stringify(body))
  if (res.status !== 200) throw new Error(`PUT ${path}: ${res.status} ${res.body}`)
  return res.json() as Record<string, unknown>
}
const remote = (ip: string): ReturnType<typeof descriptor> => descriptor(['remote_address', ip])
const key = (k: string): ReturnType<typeof descriptor> => descriptor(['api_key', k])
const body = (reply: Reply): unknown => JSON.parse(reply.raw_body.toString())
const banned = (metrics: string, client: string, plan: string): number =>
  Number(new RegExp(`tollgate_ratelimit_decisions_total\\{client="${client}",plan="${plan}",decision="banned"\\} (\\d+)`).exec(metrics)?.[1] ?? 0)

/** Milliseconds until `done` holds, polling every 10 ms; rejects after `limitMs`. */
async function until (done: () => Promise<boolean>, limitMs: number): Promise<number> {
  const started = performance.now()
  while (!await done()) {
    if (performance.now() - started > limitMs) throw new Error(`not within ${limitMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  return Math.round(performance.now() - started)
}

t.test('IP and CIDR bans refuse an anonymous remote_address descriptor, before any limit check', async (t) => {
  const g = await startTollgate(t, { configYaml: config() })
  const client = rlsClient(t, grpcAddressOf(g.logs()))
  const cidr = (await put(g, '/v1/bans/10.0.0.0%2F8', { for: '1h', reason: 'scraper' })).ban as { expires: string }
  await put(g, '/v1/bans/203.0.113.7', { for: '1h' })
  await put(g, '/v1/bans/2001:db8::%2F48', { for: '1h' })

  const refused = await client.should('edge', [remote('10.1.2.3')])
  t.equal(refused.overall_code, 'OVER_LIMIT')
  t.same(refused.statuses.map((s) => s.code), ['OVER_LIMIT'])
  t.same(body(refused), { error: 'banned', message: ERRORS.banned.message, expires: cidr.expires }, 'the expiry, never the reason')
  t.notMatch(refused.raw_body.toString(), /scraper/)
  t.equal((await client.should('edge', [remote('203.0.113.7')])).overall_code, 'OVER_LIMIT', 'a single address')
  t.equal((await client.should('edge', [remote('2001:db8:0:5::1')])).overall_code, 'OVER_LIMIT', 'an IPv6 CIDR')
  for (const free of ['192.0.2.1', '203.0.113.8', '2001:db9::1', 'not-an-address']) {
    t.equal((await client.should('edge', [remote(free)])).overall_code, 'OK', `${free} is not banned`)
  }
  t.equal(banned((await get(`${g.adminUrl}/metrics`)).body, 'anonymous', 'anonymous'), 3, 'each refusal counted as banned')

  // A key holder is banned by its name only, as on the proxy: its call from a banned
  // address is allowed (and spends both budgets).
  const keyed = await client.should('edge', [key('acme-key'), remote('10.1.2.3')])
  t.same(keyed.statuses.map((s) => s.code), ['OK', 'OK'], 'a key holder from a banned address')

  t.equal((await send('DELETE', `${g.adminUrl}/v1/bans/10.0.0.0%2F8`)).status, 200)
  const lifted = await client.should('edge', [remote('10.1.2.3')])
  t.equal(lifted.overall_code, 'OK', 'lifted')
  t.equal(lifted.statuses[0]?.limit_remaining, 98, 'the refused call spent nothing: only the key holder\'s and this one')
})

t.test('an override replaces a key holder\'s windows or plan on gRPC, until it expires', async (t) => {
  const g = await startTollgate(t, { configYaml: config() })
  const client = rlsClient(t, grpcAddressOf(g.logs()))
  await put(g, '/v1/overrides/acme', { windows: [{ max: 4, per: '1m' }], reason: 'launch' })
  const first = await client.should('edge', [key('acme-key')])
  t.match(first.statuses[0], { code: 'OK', current_limit: { name: 'override-1m', requests_per_unit: 4, unit: 'MINUTE' }, limit_remaining: 3 })
  const codes: string[] = []
  for (let i = 0; i < 4; i++) codes.push((await client.should('edge', [key('acme-key')])).overall_code)
  t.same(codes, ['OK', 'OK', 'OK', 'OVER_LIMIT'], 'four a minute, not the plan\'s two')
  t.match((await client.should('edge', [key('zeta-key')])).statuses[0], { current_limit: { name: 'free-1m', requests_per_unit: 2 }, limit_remaining: 1 }, 'others keep their plan')

  const expires = new Date(Date.now() + 1500).toISOString()
  await put(g, '/v1/overrides/zeta', { plan: 'pro', expires })
  t.match((await client.should('edge', [key('zeta-key')])).statuses[0], { code: 'OK', current_limit: { name: 'pro-1m', requests_per_unit: 5 }, limit_remaining: 3 }, 'the plan\'s windows, with what was spent')
  await until(async () => (await client.should('edge', [key('zeta-key')], 0)).statuses[0]?.current_limit?.name === 'free-1m', 4000)
  t.ok(Date.now() >= Date.parse(expires), 'the override ended at its expiry, not before')
  t.match((await get(`${g.adminUrl}/metrics`)).body, /tollgate_ratelimit_decisions_total\{client="zeta",plan="pro",decision="allowed"\} \d+/, 'counted under the override\'s plan')
})

t.test('two replicas on one Redis: a ban or an override made through A holds on B\'s gRPC within 1 s', async (t) => {
  const redis = await startRedis(t)
  const [a, b] = await Promise.all([startTollgate(t, { configYaml: config(redis.url) }), startTollgate(t, { configYaml: config(redis.url) })])
  const onB = rlsClient(t, grpcAddressOf(b.logs()))
  t.equal((await onB.should('edge', [remote('10.9.8.7')])).overall_code, 'OK')

  await put(a, '/v1/bans/10.0.0.0%2F8', { for: '1h' })
  const banDelay = await until(async () => (await onB.should('edge', [remote('10.9.8.7')])).overall_code === 'OVER_LIMIT', 1000)
  t.comment(`a CIDR ban made through A refused B's gRPC call after ${banDelay} ms`)
  t.match(body(await onB.should('edge', [remote('10.9.8.7')])), { error: 'banned', expires: String })
  t.ok(banned((await get(`${b.adminUrl}/metrics`)).body, 'anonymous', 'anonymous') >= 1, 'counted as banned on B')

  await put(a, '/v1/overrides/acme', { windows: [{ max: 50, per: '1m' }] })
  const overrideDelay = await until(async () => (await onB.should('edge', [key('acme-key')])).statuses[0]?.current_limit?.requests_per_unit === 50, 1000)
  t.comment(`an override made through A applied on B's gRPC after ${overrideDelay} ms`)
})
