import { setTimeout as sleep } from 'node:timers/promises'
import pino from 'pino'
import t from 'tap'
import type { Test } from 'tap'
import { Cluster } from 'ioredis'
import { parseConfig, type Config } from '../../src/config'
import { openStores, type Stores } from '../../src/limits'
import { createRedisClient } from '../../src/limits/redis-client'
import { describeRedis } from '../../src/limits/redis-topology'
import { RedisLimitStore, limitKey } from '../../src/limits/store-redis'
import { startCluster, type RedisCluster } from '../helpers/redis-cluster'
import { redisCli } from '../helpers/redis-cli'
import { storeBehaviour } from './store-behaviour'
import { freshSubject, win } from './store-harness'

// A real 3-primary Redis Cluster: the store behaviour suite on it, scripts on a node
// that lost them, a reshard under traffic, and a node that stops answering.

const silent = pino({ level: 'silent' })
const TIMEOUT_MS = 250
/** Room for a loaded 2-core machine between the deadline and the answer reaching the test. */
const MARGIN_MS = 150

function clusterConfig (cluster: RedisCluster): Config {
  const result = parseConfig(`redis: { cluster: [ ${cluster.seeds.map((s) => `"${s}"`).join(', ')} ], timeout: ${TIMEOUT_MS}ms }
plans: { free: [ { max: 5, per: 1s } ] }\n`, {}, 'cluster.yml')
  if (!result.ok) throw new Error(result.errors.join('\n'))
  return result.config
}

async function clusterClient (t: Test, cluster: RedisCluster): Promise<Cluster> {
  const config = clusterConfig(cluster).redis
  if (config === undefined) throw new Error('no redis section')
  const client = createRedisClient(config, {}, silent)
  if (!(client instanceof Cluster)) throw new Error('redis.cluster did not build a Cluster client')
  t.teardown(() => { client.disconnect() })
  await new Promise((resolve) => client.once('ready', resolve))
  return client
}

async function openClusterStores (t: Test, cluster: RedisCluster): Promise<Stores> {
  const stores = openStores(clusterConfig(cluster), silent)
  t.teardown(async () => { await stores.close() })
  await new Promise((resolve) => stores.redis?.once('ready', resolve))
  return stores
}

t.test('redis cluster', async (t) => {
  const cluster = await startCluster(t)

  t.test('the store behaviour suite passes on the cluster: every script keeps to one slot', async (t) => {
    const clients = await Promise.all([0, 1, 2, 3].map(async () => await clusterClient(t, cluster)))
    storeBehaviour(t, {
      stores: (_t, n) => clients.slice(0, n).map((c) => new RedisLimitStore(c, { timeoutMs: 1000 })),
      now: Date.now,
      sleep: async (ms) => { await sleep(Math.max(0, ms)) },
      slackMs: 50
    })
  })

  t.test('subjects spread over the nodes, each subject\'s keys in its own slot', async (t) => {
    const store = new RedisLimitStore(await clusterClient(t, cluster))
    const windows = [win('fixed', 5, 3_600_000, 'plan:0'), win('gcra', 5, 1000, 'plan:1'), win('sliding', 5, 60_000, 'route:GET /x:0')]
    const subjects = Array.from({ length: 30 }, () => freshSubject())
    for (const subject of subjects) t.equal((await store.check({ subject, windows, cost: 1 })).allowed, true)
    const owners = new Set<number>()
    for (const subject of subjects) {
      const ports = new Set(await Promise.all(windows.map(async (w) => (await cluster.ownerOf(limitKey(subject, w.scope))).port)))
      t.equal(ports.size, 1, `${subject}: one node holds all three windows`)
      for (const p of ports) owners.add(p)
    }
    t.equal(owners.size, 3, '30 subjects reach all 3 primaries: the test did cross nodes')
    t.match(await describeRedis(await clusterClient(t, cluster)), { topology: 'cluster', state: 'ok', nodes: 3, masters: 3 }, 'what /health/full shows of it')
  })

  t.test('SCRIPT FLUSH on every node mid-traffic: EVALSHA falls back to EVAL, counts go on', async (t) => {
    const store = new RedisLimitStore(await clusterClient(t, cluster))
    const windows = [win('fixed', 10, 3_600_000)]
    const subject = freshSubject()
    for (let i = 0; i < 4; i++) await store.check({ subject, windows, cost: 1 })
    for (const node of cluster.nodes) await redisCli(node.port, 'SCRIPT', 'FLUSH')
    const after = await store.check({ subject, windows, cost: 1 })
    t.equal(after.allowed, true)
    t.equal(after.windows[0]?.remaining, 5, 'the 5th request of 10: the state survived, only the script was gone')
  })

  t.test('a primary that stops answering: no check waits past redis.timeout, the breaker opens, all recovers', async (t) => {
    const stores = await openClusterStores(t, cluster)
    const windows = [win('fixed', 1000, 3_600_000)]
    const subject = freshSubject()
    await stores.shared.check({ subject, windows, cost: 1 })
    const owner = await cluster.ownerOf(limitKey(subject, 'plan:0'))
    owner.pause()
    t.teardown(() => { owner.resume() })
    const waits: number[] = []
    const outcomes: string[] = []
    for (let i = 0; i < 12; i++) {
      const started = performance.now()
      const outcome = await stores.shared.check({ subject, windows, cost: 1 }).then(() => 'answered', (error: { kind?: string }) => error.kind ?? 'error')
      waits.push(performance.now() - started)
      outcomes.push(outcome)
    }
    owner.resume()
    const worst = Math.max(...waits)
    t.comment(`paused node: outcomes ${outcomes.join(',')}; worst wait ${worst.toFixed(0)} ms`)
    t.ok(worst < TIMEOUT_MS + MARGIN_MS, `worst wait ${worst.toFixed(0)} ms < ${TIMEOUT_MS} + ${MARGIN_MS} ms`)
    t.notOk(outcomes.includes('answered'), 'a stopped primary answers nothing')
    t.ok(outcomes.includes('circuit_open'), 'the breaker opened and stopped sending to the hung node')
    const back = Date.now()
    let recovered = false
    while (!recovered && Date.now() - back < 10_000) {
      recovered = await stores.shared.check({ subject, windows, cost: 1 }).then(() => true, () => false)
      if (!recovered) await sleep(100)
    }
    t.ok(recovered, `checks answered again ${Date.now() - back} ms after SIGCONT`)
  })

  t.test('a reshard under traffic loses no request and admits no one over the limit', async (t) => {
    const store = new RedisLimitStore(await clusterClient(t, cluster), { timeoutMs: 2000 })
    const MAX = 40
    const windows = [win('fixed', MAX, 3_600_000)]
    const source = cluster.nodes[0]
    const target = cluster.nodes[1]
    if (source === undefined || target === undefined) throw new Error('3 nodes expected')
    // Subjects on node 0, all of whose slots the reshard moves to node 1.
    const subjects: string[] = []
    while (subjects.length < 20) {
      const s = freshSubject()
      if ((await cluster.ownerOf(limitKey(s, 'plan:0'))).port === source.port) subjects.push(s)
    }
    const admitted = new Map(subjects.map((s) => [s, 0]))
    let failed = 0
    let sent = 0
    let stop = false
    const traffic = Promise.all(Array.from({ length: 20 }, async (_, worker) => {
      while (!stop) {
        const subject = subjects[(worker + sent) % subjects.length] ?? ''
        sent++
        await store.check({ subject, windows, cost: 1 }).then(
          (r) => { if (r.allowed) admitted.set(subject, (admitted.get(subject) ?? 0) + 1) },
          () => { failed++ })
      }
    }))
    await sleep(200)
    const slots = 5461
    const started = Date.now()
    await redisCli(source.port, '--cluster', 'reshard', `127.0.0.1:${source.port}`, '--cluster-from', source.id,
      '--cluster-to', target.id, '--cluster-slots', String(slots), '--cluster-yes', '--cluster-pipeline', '100')
    const tookMs = Date.now() - started
    await sleep(200)
    stop = true
    await traffic
    const moved = (await Promise.all(subjects.map(async (s) => (await cluster.ownerOf(limitKey(s, 'plan:0'))).port))).filter((p) => p === target.port).length
    const over = [...admitted.values()].filter((n) => n > MAX).length
    t.comment(`reshard of ${slots} slots took ${tookMs} ms; ${sent} checks, ${failed} failed; ${moved}/${subjects.length} subjects moved; admitted per subject: ${[...admitted.values()].join(',')}`)
    t.equal(moved, subjects.length, 'every subject\'s slot moved to the target during the traffic')
    t.equal(failed, 0, 'no check failed: MOVED, ASK and TRYAGAIN were followed')
    t.equal(over, 0, `no subject admitted past ${MAX}`)
    t.ok([...admitted.values()].every((n) => n === MAX), 'and each got exactly its limit: the migration lost no count')
  })
})
