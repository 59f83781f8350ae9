import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { closeRedisClient, createRedisClient } from '../../src/limits/redis-client'
import { capturedLog, testConfig } from '../helpers/app'
import { MASTER_NAME, startSentinels } from '../helpers/redis-sentinel'

// A Sentinel client that ends without tollgate closing it (ioredis' failover detector can
// do that mid-reconnect: see redis-client.ts) is connected again; one tollgate closes stays closed.

t.test('a Sentinel client ended behind tollgate\'s back reconnects; closeRedisClient\'s stays ended', async (t) => {
  const set = await startSentinels(t, 1)
  const config = testConfig(`redis: { sentinels: [ "${set.sentinels[0] ?? ''}" ], name: ${MASTER_NAME} }\nplans: { free: [ { max: 1, per: 1s } ] }\n`)
  if (config.redis === undefined) throw new Error('redis expected')
  const { log, logs } = capturedLog()
  const client = createRedisClient(config.redis, {}, log)
  t.teardown(async () => { await closeRedisClient(client) })
  await new Promise((resolve) => client.once('ready', resolve))

  // What the failover detector's cut leaves: `end`, without tollgate having asked.
  const ended = new Promise((resolve) => client.once('end', resolve))
  client.disconnect()
  await ended
  const deadline = Date.now() + 5000
  while (client.status !== 'ready' && Date.now() < deadline) await sleep(50)
  t.equal(client.status, 'ready', 'connected again')
  t.equal(await client.ping(), 'PONG', 'and answering')
  t.ok(logs.some((l) => String(l.msg).includes('ended without tollgate closing it')), 'a warning says so')

  await closeRedisClient(client)
  await sleep(1500)
  t.equal(client.status, 'end', 'a client tollgate closed is not reopened')
})
