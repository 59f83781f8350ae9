import { createServer, type AddressInfo } from 'node:net'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import t, { type Test } from 'tap'
import { loadConfigFile } from '../src/config'
import { start, type Started } from '../src/server'
import { get } from './helpers/http'
import { freePort } from './helpers/ports'
import { startRedis } from './helpers/redis'
import { redisCli, until } from './helpers/redis-cli'
import { refuses, startUpstream } from './helpers/upstream'

/*
 * start() in this process: what it opens, and that stop() closes all of it on both
 * paths (a failed listen, a running tollgate), handlers on `process` included: left
 * behind, close-with-grace would turn the next exit into a drain and exit 0.
 */

const EVENTS = ['SIGTERM', 'SIGINT', 'SIGHUP', 'beforeExit', 'uncaughtException', 'unhandledRejection'] as const
const handlers = (): Record<string, number> => Object.fromEntries(EVENTS.map((event) => [event, process.listenerCount(event)]))

const portOf = (url: string): number => Number(new URL(url).port)

async function startWith (t: Test, yaml: string): Promise<{ started: Started, logs: Array<Record<string, unknown>> }> {
  const configPath = join(t.testdir({ 'config.yml': yaml }), 'config.yml')
  const loaded = await loadConfigFile(configPath, {})
  if (!loaded.ok) throw new Error(loaded.errors.join('\n'))
  const logs: Array<Record<string, unknown>> = []
  const logTo = new Writable({
    write (chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n')) if (line !== '') logs.push(JSON.parse(line) as Record<string, unknown>)
      callback()
    }
  })
  const started = await start({ configPath, loaded, env: {}, version: 'test', interactive: false, memoryUsage: () => process.memoryUsage(), logTo })
  if (started.status === 'listening') t.teardown(started.tollgate.stop)
  return { started, logs }
}

/** Connections to this Redis other than the one asking. */
async function redisClients (port: number): Promise<number> {
  return (await redisCli(port, 'CLIENT', 'LIST')).trim().split('\n').filter((line) => !line.includes('cmd=client')).length
}

t.test('a port in use: start() says failed and stop() has closed the admin port, Redis and every handler', async (t) => {
  const taken = createServer()
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { taken.close() })
  const takenPort = (taken.address() as AddressInfo).port
  const adminPort = await freePort()
  const redis = await startRedis(t)
  const before = handlers()

  const { started, logs } = await startWith(t, `listen: { proxy: "127.0.0.1:${takenPort}", admin: "127.0.0.1:${adminPort}" }
redis: ${redis.url}
plans: { anonymous: [ { max: 10, per: 1m } ] }
`)
  t.equal(started.status, 'failed')
  const fatal = logs.find((line) => line.msg === 'cannot listen')
  t.equal(fatal?.level, 60, 'logged at fatal')
  t.match(fatal?.err, { message: /EADDRINUSE/ }, 'naming why')
  t.ok(await refuses(adminPort), 'the admin port, open during the Redis wait, is closed again')
  await until('tollgate has quit Redis', async () => await redisClients(redis.port) === 0, 3000)
  t.same(handlers(), before, 'no signal, error or beforeExit handler left on process')
})

t.test('listening: every URL answers; stop() closes them all and every handler, and may be called again', async (t) => {
  const upstream = await startUpstream(t)
  const before = handlers()
  const { started, logs } = await startWith(t, `listen: { proxy: "127.0.0.1:0", admin: "127.0.0.1:0", decision: "127.0.0.1:0" }
upstream: ${upstream.url}
plans: { anonymous: [ { max: 10, per: 1m } ] }
`)
  if (started.status !== 'listening') throw new Error(`start: ${started.status}`)
  const { tollgate } = started
  t.match(logs.find((line) => line.msg === 'tollgate listening'), { proxy: tollgate.proxyUrl, admin: tollgate.adminUrl, decision: tollgate.decisionUrl, upstream: upstream.url })
  t.equal(process.listenerCount('SIGHUP'), (before.SIGHUP ?? 0) + 1, 'SIGHUP reloads while it runs')
  t.equal((await get(`${tollgate.proxyUrl}/hello`)).status, 200, 'the proxy forwards')
  t.equal((await get(`${tollgate.adminUrl}/health/ready`)).status, 200, 'ready')
  t.equal((await get(`${tollgate.decisionUrl ?? ''}/v1/authorize`, { 'x-original-uri': '/x', 'x-original-method': 'GET' })).status, 200, 'the decision API answers')

  await tollgate.stop()
  for (const url of [tollgate.proxyUrl, tollgate.adminUrl, tollgate.decisionUrl ?? '']) t.ok(await refuses(portOf(url)), `${url} closed`)
  t.same(handlers(), before, 'no handler left on process')
  await tollgate.stop()
  t.pass('a second stop() resolves')
})
