import Redis from 'ioredis'
import t from 'tap'
import { textHash } from '../../src/config/load'
import { at } from '../helpers/at'
import { startTollgate, type Tollgate } from '../helpers/child'
import { get } from '../helpers/http'
import { startRedis } from '../helpers/redis'
import { startUpstream } from '../helpers/upstream'
import { inspect, nextLog, REDIS_KEY as KEY, redisConfig as configWith, tollgateClients } from '../helpers/live'

// `redis:` changed in the running process, against two real redis-servers: the new
// client must answer before anything is swapped, counts then go to the new server, and
// the old client quits once requests that pinned it are done.

/** How long replaced stores stay open for requests that pinned them (limits/state.ts). */
const RETIRE_AFTER_MS = 5000

async function quits (client: Redis): Promise<number> {
  const stats = await client.info('commandstats')
  return Number(/cmdstat_quit:calls=(\d+)/.exec(stats)?.[1] ?? 0)
}

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

t.test('pointed at a second Redis: new client connected, swapped, counts go there, the old one quits', async (t) => {
  const [first, second, upstream] = await Promise.all([startRedis(t), startRedis(t), startUpstream(t)])
  const [a, b] = [inspect(t, first.url), inspect(t, second.url)]
  const tollgate = await startTollgate(t, { configYaml: configWith(upstream.url, first.url) })

  t.strictSame(await spend(tollgate, 3), [200, 200, 200])
  // The operator's keys (tollgate:{admin/}:spenders, :audit) are no counts.
  const counts = async (client: Redis): Promise<string[]> => (await client.keys('tollgate:*')).filter((k) => !k.startsWith('tollgate:{admin/}:'))
  const keysOnA = await counts(a)
  t.equal(keysOnA.length, 1, `the count lives on the first Redis: ${keysOnA.join(', ')}`)
  t.match(keysOnA[0], /^tollgate:\{acme\}:/)
  t.equal(await tollgateClients(a), 1, 'tollgate is connected to the first')
  t.equal(await tollgateClients(b), 0)

  const text = configWith(upstream.url, second.url)
  const logged = nextLog(tollgate, (l) => l.msg === 'config reloaded')
  await tollgate.writeConfig(text)
  const line = await logged
  const swappedAt = Date.now()
  t.match(line, { hash: textHash(text), changes: { settings: ['redis'] } })
  t.equal(await tollgateClients(b), 1, 'the new client was connected before the swap')

  t.strictSame(await spend(tollgate, 2), [200, 200])
  t.strictSame(await counts(b), keysOnA, 'after the swap, counts go to the new Redis')
  const used = async (client: Redis): Promise<number> => Number((await client.get(at(keysOnA, 0)))?.split(':')[1]) / 1e6
  t.ok(Math.abs(await used(b) - 2) < 0.01, 'the new server counts the 2 since the swap')
  t.ok(Math.abs(await used(a) - 3) < 0.01, 'the old one keeps the 3 before it')
  t.equal(await tollgateClients(a), 1, 'the old client stays open a while for requests that pinned it')

  // Retired RETIRE_AFTER_MS after the swap, with QUIT, not a reset.
  while (await tollgateClients(a) > 0 && Date.now() - swappedAt < RETIRE_AFTER_MS + 3000) await new Promise((resolve) => setTimeout(resolve, 200))
  const gone = Date.now() - swappedAt
  t.equal(await tollgateClients(a), 0, `the old client is gone ${gone} ms after the swap`)
  t.ok(gone >= RETIRE_AFTER_MS - 500, 'not before the retire delay')
  t.equal(await quits(a), 1, 'it sent QUIT')
  t.equal(await tollgateClients(b), 1, 'the new one stays')
  t.strictSame(await spend(tollgate, 1), [200])
  t.equal(await gauge(tollgate, 'tollgate_redis_up'), 1, 'redis_up is the new client\'s, not the retired one\'s')
  t.notOk(tollgate.logs().some((l) => l.msg === 'redis connection failed'), 'the old client\'s quit is not an outage')
})
