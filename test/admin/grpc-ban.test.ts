import t from 'tap'
import { startTollgate } from '../helpers/child'
import { get, send } from '../helpers/http'
import { descriptor, grpcAddressOf, rlsClient } from '../grpc/client'

// A ban holds on Envoy's ShouldRateLimit too: a descriptor whose API key is banned
// refuses the call before any limit check, counted as `banned`.

const CONFIG = `
listen: { proxy: 127.0.0.1:0, admin: 127.0.0.1:0, grpc: 127.0.0.1:0 }
plans:
  pro: [ { max: 5, per: 1m } ]
keys:
  - { name: acme, key: acme-key, plan: pro }
  - { name: zeta, key: zeta-key, plan: pro }
rls:
  domains:
    edge:
      - match: [ { key: api_key } ]
`

t.test('a banned key is OVER_LIMIT with the banned body; others and the lifted key are OK', async (t) => {
  const tollgate = await startTollgate(t, { configYaml: CONFIG })
  const client = rlsClient(t, grpcAddressOf(tollgate.logs()))
  const ban = await send('PUT', `${tollgate.adminUrl}/v1/bans/acme`, { 'content-type': 'application/json' }, JSON.stringify({ for: '1h' }))
  t.equal(ban.status, 200, 'no token on a loopback admin port: allowed')
  const { expires } = (ban.json() as { ban: { expires: string } }).ban

  const refused = await client.should('edge', [descriptor(['api_key', 'acme-key']), descriptor(['api_key', 'zeta-key'])])
  t.equal(refused.overall_code, 'OVER_LIMIT')
  t.same(refused.statuses.map((s) => s.code), ['OVER_LIMIT', 'OK'])
  t.match(JSON.parse(refused.raw_body.toString()), { error: 'banned', expires })
  const usage = await get(`${tollgate.adminUrl}/v1/usage/zeta`)
  t.match(usage.json(), { windows: [{ used: 0 }] }, 'the call was refused before anything was spent')
  t.match((await get(`${tollgate.adminUrl}/metrics`)).body, /tollgate_ratelimit_decisions_total\{client="acme",plan="pro",decision="banned"\} 1/)

  t.equal((await send('DELETE', `${tollgate.adminUrl}/v1/bans/acme`)).status, 200)
  t.equal((await client.should('edge', [descriptor(['api_key', 'acme-key'])])).overall_code, 'OK', 'lifted')
})
