import t from 'tap'
import { startTollgate, type Tollgate } from '../helpers/child'
import { startRedis } from '../helpers/redis'
import { descriptor, grpcAddressOf, rlsClient, type RlsClient } from './client'

// A real redis-server, SIGKILLed under a running tollgate: every on_redis_error mode
// decides ShouldRateLimit without Redis (applied by live reload, Redis still dead).

const config = (redisUrl: string, mode: string): string => `
listen: { proxy: 127.0.0.1:0, admin: 127.0.0.1:0, grpc: 127.0.0.1:0 }
redis: { url: ${redisUrl}, timeout: 250ms }
on_redis_error: ${mode}
plans:
  anonymous: [ { max: 2, per: 1h } ]
rls:
  domains:
    edge:
      - match: [ { key: remote_address } ]
        plan: anonymous
`

async function reloaded (tollgate: Tollgate, yaml: string): Promise<void> {
  const seen = tollgate.logs().filter((l) => l.msg === 'config reloaded').length
  await tollgate.writeConfig(yaml)
  await tollgate.waitForLog(() => tollgate.logs().filter((l) => l.msg === 'config reloaded').length > seen, 15_000)
}

async function codes (client: RlsClient, ip: string, n: number): Promise<string[]> {
  const out: string[] = []
  for (let i = 0; i < n; i++) out.push((await client.should('edge', [descriptor(['remote_address', ip])])).overall_code)
  return out
}

t.test('Redis killed: allow answers OK, deny OVER_LIMIT (limiter_unavailable), local limits per replica', async (t) => {
  const redis = await startRedis(t)
  const tollgate = await startTollgate(t, { configYaml: config(redis.url, 'allow') })
  const client = rlsClient(t, grpcAddressOf(tollgate.logs()))
  t.strictSame(await codes(client, '10.0.0.1', 3), ['OK', 'OK', 'OVER_LIMIT'], 'limited through Redis while it runs')

  await redis.kill()
  const allow = await client.should('edge', [descriptor(['remote_address', '10.0.0.1'])])
  t.equal(allow.overall_code, 'OK', 'allow: let through, though Redis said over a moment ago')
  t.match(allow.statuses, [{ code: 'OK', current_limit: null }], 'no numbers: any would be a guess')
  t.strictSame(allow.response_headers_to_add.map((h) => h.key), ['ratelimit-policy'])

  await reloaded(tollgate, config(redis.url, 'deny'))
  const deny = await client.should('edge', [descriptor(['remote_address', '10.0.0.2'])])
  t.equal(deny.overall_code, 'OVER_LIMIT')
  t.match(JSON.parse(deny.raw_body.toString()), { error: 'limiter_unavailable' })

  await reloaded(tollgate, config(redis.url, 'local'))
  t.strictSame(await codes(client, '10.0.0.3', 3), ['OK', 'OK', 'OVER_LIMIT'], 'local: the per-replica store limits')

  const metrics = await (await fetch(`${tollgate.adminUrl}/metrics`)).text()
  t.match(metrics, /tollgate_ratelimit_decisions_total\{client="anonymous",plan="anonymous",decision="degraded"\} [1-9]/)
  t.match(metrics, /tollgate_redis_errors_total\{kind="(connection|circuit_open)"\} [1-9]/)
})
