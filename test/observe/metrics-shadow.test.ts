import t from 'tap'
import { configuredClients } from '../../src/config/reload-report'
import { zeroDecisions } from '../../src/observe'
import { buildTestApp, testConfig } from '../helpers/app'
import { parseSamples, valueOf } from '../helpers/metrics'
import { startRedis } from '../helpers/redis'
import { startUpstream } from '../helpers/upstream'

// Shadow mode as /metrics reports it: the app built in process on a real redis-server
// and a real upstream, limits counted and never enforced.

const DECISIONS = ['allowed', 'limited', 'would_limit', 'degraded']

t.test('shadow mode: over the limit is would_limit, never limited, and the request goes through', async (t) => {
  const redis = await startRedis(t)
  const upstream = await startUpstream(t)
  const config = testConfig(`
upstream: ${upstream.url}
redis: ${redis.url}
shadow: true
plans:
  free: [ { max: 2, per: 1m } ]
  anonymous: [ { max: 1, per: 1m } ]
keys: [ { name: initech, key: initech-key, plan: free } ]`)
  const { app, metrics } = await buildTestApp(t, config)
  // What the CLI does once the config is loaded (src/server-parts.ts).
  zeroDecisions(metrics, configuredClients(config))
  const scrape = async (): Promise<ReturnType<typeof parseSamples>> => {
    const res = await app.admin.inject({ url: '/metrics' })
    if (res.statusCode !== 200) throw new Error(`/metrics answered ${res.statusCode}`)
    return parseSamples(res.body)
  }
  const status = async (headers: Record<string, string> = {}): Promise<number> =>
    (await app.proxy.inject({ url: '/s', headers })).statusCode
  const zero = await scrape()
  for (const decision of DECISIONS) {
    t.equal(valueOf(zero, 'tollgate_ratelimit_decisions_total', { client: 'anonymous', plan: 'anonymous', decision }), 0,
      `with an anonymous plan, anonymous/anonymous/${decision} is zeroed too`)
  }
  const statuses = []
  for (let i = 0; i < 4; i++) statuses.push(await status({ 'x-api-key': 'initech-key' }))
  t.same(statuses, [200, 200, 200, 200], 'shadow never refuses')
  t.same([await status(), await status()], [200, 200], 'nor anonymous callers')
  const samples = await scrape()
  const decided = (client: string, plan: string, decision: string): number | undefined =>
    valueOf(samples, 'tollgate_ratelimit_decisions_total', { client, plan, decision })
  t.equal(decided('initech', 'free', 'allowed'), 2)
  t.equal(decided('initech', 'free', 'would_limit'), 2)
  t.equal(decided('initech', 'free', 'limited'), 0)
  t.equal(decided('anonymous', 'anonymous', 'allowed'), 1)
  t.equal(decided('anonymous', 'anonymous', 'would_limit'), 1)
  t.equal(decided('anonymous', 'anonymous', 'limited'), 0)
  t.equal(valueOf(samples, 'tollgate_upstream_requests_total', { status_class: '2xx' }), 6, 'all six reached the app')
  t.equal(upstream.requests.length, 6, 'the app saw all six')
})
