import t from 'tap'
import { textHash } from '../../src/config/load'
import { at } from '../helpers/at'
import { startTollgate, type Tollgate } from '../helpers/child'
import { get } from '../helpers/http'
import { startRedis } from '../helpers/redis'
import { deadPort, startUpstream } from '../helpers/upstream'
import { inspect, nextLog, REDIS_KEY as KEY, redisConfig as configWith, tollgateClients, REJECTED } from '../helpers/live'

// `redis:` changed in the running process to a Redis that does not answer: a rejected
// reload after the new client's 5 s, not an outage; the running Redis keeps counting.

/** How long a reload waits for a new Redis (limits/state.ts). */
const NEW_REDIS_WAIT_MS = 5000

async function gauge (tollgate: Tollgate, series: string): Promise<number> {
  const { body } = await get(`${tollgate.adminUrl}/metrics`)
  const line = body.split('\n').find((l) => l.startsWith(`${series} `))
  if (line === undefined) throw new Error(`no series ${series} in /metrics`)
  return Number(line.slice(series.length + 1))
}

async function spend (tollgate: Tollgate, n: number): Promise<number[]> {
  const statuses: number[] = []
  for (let i = 0; i < n; i++) statuses.push((await get(`${tollgate.proxyUrl}/r`, { 'x-api-key': KEY })).status)
  return statuses
}

t.test('pointed at a Redis where nothing listens: rejected after the new client\'s 5 s, the running one stays', async (t) => {
  const [redis, upstream] = await Promise.all([startRedis(t), startUpstream(t)])
  const inspector = inspect(t, redis.url)
  const good = configWith(upstream.url, redis.url)
  const tollgate = await startTollgate(t, { configYaml: good })
  t.strictSame(await spend(tollgate, 1), [200])

  const deadUrl = `redis://127.0.0.1:${await deadPort()}`
  const rejected = nextLog(tollgate, (l) => l.msg === REJECTED, NEW_REDIS_WAIT_MS + 5000)
  const started = Date.now()
  await tollgate.writeConfig(configWith(upstream.url, deadUrl))
  // Requests keep flowing on the running Redis while the new client is tried.
  const during: number[] = []
  let waiting = true
  void rejected.finally(() => { waiting = false })
  while (waiting) {
    during.push(...await spend(tollgate, 1))
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  const line = await rejected
  const took = Date.now() - started
  t.ok(took >= NEW_REDIS_WAIT_MS && took < NEW_REDIS_WAIT_MS + 3000, `rejected after ${took} ms`)
  t.strictSame(line.errors, [`${tollgate.configPath}: cannot apply: the new redis did not answer within ${NEW_REDIS_WAIT_MS} ms; the running one stays`])
  t.equal(line.hash, textHash(good))
  t.ok(during.length > 10 && during.every((s) => s === 200), `all ${during.length} requests meanwhile were served`)

  // The client's count, not the operator's keys (tollgate:{admin/}:spenders, :audit).
  const stateKey = at((await inspector.keys('tollgate:*')).filter((k) => !k.startsWith('tollgate:{admin/}:')), 0)
  const before = await inspector.get(stateKey)
  t.strictSame(await spend(tollgate, 1), [200])
  t.equal(await tollgateClients(inspector), 1, 'still on the running Redis')
  t.not(await inspector.get(stateKey), before, 'which still counts')
  t.equal(await gauge(tollgate, 'tollgate_config_last_reload_successful'), 0)
  t.equal(await gauge(tollgate, 'tollgate_redis_up'), 1, 'the failed new client does not mark the running Redis down')

  // The poll reads the same file at the next 10 s: not tried (and waited for) again.
  await new Promise((resolve) => setTimeout(resolve, 10_500))
  t.equal(await gauge(tollgate, 'tollgate_config_reloads_total{result="failure"}'), 1, 'one failure for one file')
  t.equal(tollgate.logs().filter((l) => l.msg === REJECTED).length, 1)
  t.equal(tollgate.logs().filter((l) => l.msg === 'redis connection failed').length, 1, 'one new client tried, not one per poll')
  t.equal(await gauge(tollgate, 'tollgate_redis_up'), 1)
})
