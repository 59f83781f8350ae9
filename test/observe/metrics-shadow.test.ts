import t from 'tap'
import { get } from '../helpers/http'
import { stack } from '../helpers/stack'
import { scrape, valueOf } from '../helpers/metrics'

// Shadow mode as /metrics reports it: the real CLI on a real redis-server, limits
// counted and never enforced.

const DECISIONS = ['allowed', 'limited', 'would_limit', 'degraded']

t.test('shadow mode: over the limit is would_limit, never limited, and the request goes through', async (t) => {
  const { tollgate } = await stack(t, (upstream, redis) => `
upstream: ${upstream}
redis: ${redis}
shadow: true
plans:
  free: [ { max: 2, per: 1m } ]
  anonymous: [ { max: 1, per: 1m } ]
keys: [ { name: initech, key: initech-key, plan: free } ]`)
  const zero = await scrape(tollgate)
  for (const decision of DECISIONS) {
    t.equal(valueOf(zero, 'tollgate_ratelimit_decisions_total', { client: 'anonymous', plan: 'anonymous', decision }), 0,
      `with an anonymous plan, anonymous/anonymous/${decision} is zeroed too`)
  }
  const statuses = []
  for (let i = 0; i < 4; i++) statuses.push((await get(`${tollgate.proxyUrl}/s`, { 'x-api-key': 'initech-key' })).status)
  t.same(statuses, [200, 200, 200, 200], 'shadow never refuses')
  t.same([(await get(`${tollgate.proxyUrl}/s`)).status, (await get(`${tollgate.proxyUrl}/s`)).status], [200, 200], 'nor anonymous callers')
  const samples = await scrape(tollgate)
  const decided = (client: string, plan: string, decision: string): number | undefined =>
    valueOf(samples, 'tollgate_ratelimit_decisions_total', { client, plan, decision })
  t.equal(decided('initech', 'free', 'allowed'), 2)
  t.equal(decided('initech', 'free', 'would_limit'), 2)
  t.equal(decided('initech', 'free', 'limited'), 0)
  t.equal(decided('anonymous', 'anonymous', 'allowed'), 1)
  t.equal(decided('anonymous', 'anonymous', 'would_limit'), 1)
  t.equal(decided('anonymous', 'anonymous', 'limited'), 0)
  t.equal(valueOf(samples, 'tollgate_upstream_requests_total', { status_class: '2xx' }), 6, 'all six reached the app')
})
