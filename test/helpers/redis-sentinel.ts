import type { ChildProcess } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'tap'
import { freePort } from './ports'
import { killAndWait } from './reap'
import { spawnRedis } from './redis'
import { redisCli, until } from './redis-cli'

export const MASTER_NAME = 'mymaster'

export interface SentinelSet {
  /** `127.0.0.1:PORT` of every sentinel, for `redis: { sentinels: [...] }`. */
  readonly sentinels: readonly string[]
  readonly sentinelPorts: readonly number[]
  /** The ports of the two data nodes; which one is primary changes on failover. */
  readonly dataPorts: readonly number[]
  /** The primary's port as the first sentinel reports it now. */
  primaryPort(): Promise<number>
  /** SIGKILLs the data node on `port` (the primary, outright). */
  killData(port: number): Promise<void>
}

/** Sentinel timing: a dead primary is seen in 1 s; a failover gives up after 5 s. */
const DOWN_AFTER_MS = 1000
const FAILOVER_TIMEOUT_MS = 5000

/**
 * A real primary, one replica and `count` sentinels (quorum: a majority) on free
 * loopback ports, each sentinel with its own config file in a temp dir (sentinels
 * rewrite it). Resolves once the replica's link is up and every sentinel knows the
 * replica and the other sentinels, so a failover can happen at once. Teardown kills
 * all and removes the dir.
 */
export async function startSentinels (t: Pick<Test, 'teardown'>, count = 1): Promise<SentinelSet> {
  const dir = await mkdtemp(join(tmpdir(), 'tollgate-sentinel-'))
  const data = new Map<number, ChildProcess>()
  const sentinels: ChildProcess[] = []
  t.teardown(async () => {
    await Promise.all([...data.values(), ...sentinels].map(killAndWait))
    await rm(dir, { recursive: true, force: true })
  })
  const primary = await freePort()
  // --dir: a replica writes the RDB it syncs from, and must not leave it in the working directory.
  data.set(primary, await spawnRedis(primary, ['--dir', dir]))
  const replica = await freePort()
  data.set(replica, await spawnRedis(replica, ['--dir', dir, '--replicaof', '127.0.0.1', String(primary)]))
  await until('the replica is in sync', async () => (await redisCli(replica, 'INFO', 'replication')).includes('master_link_status:up'))

  const quorum = Math.floor(count / 2) + 1
  const sentinelPorts: number[] = []
  for (let i = 0; i < count; i++) {
    const port = await freePort()
    const file = join(dir, `sentinel-${port}.conf`)
    await writeFile(file, [
      `port ${port}`,
      'bind 127.0.0.1',
      `dir ${dir}`,
      `sentinel monitor ${MASTER_NAME} 127.0.0.1 ${primary} ${quorum}`,
      `sentinel down-after-milliseconds ${MASTER_NAME} ${DOWN_AFTER_MS}`,
      `sentinel failover-timeout ${MASTER_NAME} ${FAILOVER_TIMEOUT_MS}`,
      `sentinel parallel-syncs ${MASTER_NAME} 1`,
      ''
    ].join('\n'))
    sentinels.push(await spawnRedis(port, [file], 'redis-sentinel'))
    sentinelPorts.push(port)
  }
  for (const port of sentinelPorts) {
    await until(`sentinel ${port} knows the replica and its peers`, async () => {
      const info = await redisCli(port, 'SENTINEL', 'MASTER', MASTER_NAME)
      const field = (name: string): number => Number(new RegExp(`^${name}\\n(\\d+)$`, 'm').exec(info)?.[1] ?? -1)
      return field('num-slaves') >= 1 && field('num-other-sentinels') >= count - 1
    }, 30_000)
  }
  return {
    sentinels: sentinelPorts.map((p) => `127.0.0.1:${p}`),
    sentinelPorts,
    dataPorts: [primary, replica],
    async primaryPort () {
      const reply = await redisCli(sentinelPorts[0] ?? 0, 'SENTINEL', 'GET-MASTER-ADDR-BY-NAME', MASTER_NAME)
      return Number(reply.trim().split('\n')[1])
    },
    async killData (port) {
      const child = data.get(port)
      if (child !== undefined) await killAndWait(child)
    }
  }
}
