import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { startTollgate } from '../helpers/child'
import { get } from '../helpers/http'
import { freePort } from '../helpers/ports'
import { startRedis } from '../helpers/redis'
import { startUpstream } from '../helpers/upstream'
import { connectOutcome } from '../lifecycle/fixtures/kit'

// The start with Redis down, then up: the admin port opens first (liveness passes,
// readiness fails naming redis), the proxy port only once Redis has answered. With
// Redis up from the start, the wait is not even logged.

const WAITING = (line: Record<string, unknown>): boolean => line.msg === 'waiting for redis'
const config = (proxy: string, admin: string, upstream: string, redis: string): string => `listen: { proxy: "${proxy}", admin: "${admin}" }
upstream: ${upstream}
upstream_health: { path: /status/200 }
redis: ${redis}
plans: { free: [ { max: 5, per: 1m } ] }
keys: [ { name: acme, key: acme-key, plan: free } ]`

t.test('Redis down at start: admin first, live 200 and ready 503 (redis); the proxy opens once Redis answers', async (t) => {
  const redis = await startRedis(t)
  const upstream = await startUpstream(t)
  await redis.kill()
  // Known ports: the child logs its URLs only once everything listens.
  const [proxyPort, adminPort] = [await freePort(), await freePort()]
  const admin = `http://127.0.0.1:${adminPort}`
  const starting = startTollgate(t, { configYaml: config(`127.0.0.1:${proxyPort}`, `127.0.0.1:${adminPort}`, upstream.url, redis.url) })
  starting.catch(() => {})

  let live = await get(`${admin}/health/live`).catch(() => undefined)
  const until = Date.now() + 60_000
  while (live?.status !== 200 && Date.now() < until) {
    await sleep(25)
    live = await get(`${admin}/health/live`).catch(() => undefined)
  }
  t.equal(live?.status, 200, 'liveness passes while tollgate waits for Redis')
  const ready = await get(`${admin}/health/ready`)
  t.equal(ready.status, 503, 'readiness fails')
  t.same(ready.json(), { status: 'fail', failing: ['redis'] }, 'and names redis')
  t.equal(await connectOutcome(`http://127.0.0.1:${proxyPort}`), 'ECONNREFUSED', 'the proxy port is not open yet')
  // Past the quiet ~500 ms, the wait is logged.
  await sleep(1000)
  t.equal((await get(`${admin}/health/live`)).status, 200, 'still live a second later')

  const redisBackAt = Date.now()
  await redis.restart()
  const tollgate = await starting
  const logs = tollgate.logs()
  const waiting = logs.findIndex(WAITING)
  const listening = logs.findIndex((l) => l.msg === 'tollgate listening')
  t.ok(waiting !== -1 && waiting < listening, 'the wait is logged before the proxy opens')
  t.ok(Date.parse(String(logs[listening]?.time)) >= redisBackAt - 50, 'listening only after Redis came back')
  const res = await get(`${tollgate.proxyUrl}/x`, { 'x-api-key': 'acme-key' })
  t.equal(res.status, 200)
  t.equal(res.headers['x-ratelimit-remaining'], '4', 'counted in Redis from the first request')
  t.equal((await get(`${tollgate.adminUrl}/health/ready`)).status, 200)
})

t.test('Redis up at start: no "waiting for redis" line', async (t) => {
  const redis = await startRedis(t)
  const upstream = await startUpstream(t)
  const tollgate = await startTollgate(t, { configYaml: config('127.0.0.1:0', '127.0.0.1:0', upstream.url, redis.url) })
  t.equal(tollgate.logs().filter(WAITING).length, 0, 'an answer within ~500 ms is not worth a warning')
  t.equal((await get(`${tollgate.proxyUrl}/x`, { 'x-api-key': 'acme-key' })).status, 200)
})
