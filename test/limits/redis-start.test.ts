import t from 'tap'
import { startTollgate } from '../helpers/child'
import { get } from '../helpers/http'
import { startRedis } from '../helpers/redis'
import { startUpstream } from '../helpers/upstream'

t.test('the proxy port opens only once Redis has answered', async (t) => {
  const redis = await startRedis(t)
  const upstream = await startUpstream(t)
  await redis.kill()
  const starting = startTollgate(t, {
    configYaml: `listen: { proxy: 127.0.0.1:0, admin: 127.0.0.1:0 }
upstream: ${upstream.url}
redis: ${redis.url}
plans: { free: [ { max: 5, per: 1m } ] }
keys: [ { name: acme, key: acme-key, plan: free } ]`
  })
  await new Promise((resolve) => setTimeout(resolve, 1500))
  const redisBackAt = Date.now()
  await redis.restart()
  const tollgate = await starting
  const logs = tollgate.logs()
  const waiting = logs.findIndex((l) => l.msg === 'waiting for redis before opening the proxy port')
  const listening = logs.findIndex((l) => l.msg === 'tollgate listening')
  t.ok(waiting !== -1 && waiting < listening, 'the wait is logged before the port opens')
  t.ok(Date.parse(String(logs[listening].time)) >= redisBackAt - 50, 'listening only after Redis came back')
  const res = await get(`${tollgate.proxyUrl}/x`, { 'x-api-key': 'acme-key' })
  t.equal(res.status, 200)
  t.equal(res.headers['x-ratelimit-remaining'], '4', 'counted in Redis from the first request')
  t.equal((await get(`${tollgate.adminUrl}/health/ready`)).status, 200)
})
