import type { ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Redis from 'ioredis'
import type { Test } from 'tap'
import { freePort } from './ports'
import { killAndWait } from './reap'
import { spawnRedis } from './redis'
import { redisCli, until } from './redis-cli'

export interface ClusterNode {
  readonly port: number
  /** The node's cluster id (`CLUSTER MYID`). */
  readonly id: string
  /** SIGSTOP: the node keeps its sockets but answers nothing (a partition, from a client's side). */
  pause(): void
  resume(): void
}

export interface RedisCluster {
  readonly nodes: readonly ClusterNode[]
  /** `127.0.0.1:PORT` of every node, for `redis: { cluster: [...] }`. */
  readonly seeds: readonly string[]
  /** The node that serves `key`'s slot now. */
  ownerOf(key: string): Promise<ClusterNode>
}

/** Past this a silent node is marked failing by the others; short, so the tests see it. */
const NODE_TIMEOUT_MS = 2000

/**
 * A real Redis Cluster of `masters` primaries (no replicas) on free loopback ports, in
 * a temp dir for the nodes-PORT.conf files, resolved once every node says
 * `cluster_state:ok`. Teardown kills every node (SIGCONT first: a stopped process
 * cannot exit) and removes the dir.
 */
export async function startCluster (t: Pick<Test, 'teardown'>, masters = 3): Promise<RedisCluster> {
  const dir = await mkdtemp(join(tmpdir(), 'tollgate-cluster-'))
  const children: ChildProcess[] = []
  // ownerOf's own connections, one per node: a redis-cli process per question cost the
  // cluster tests seconds (a reshard test asks about a hundred times).
  const admins = new Map<number, Redis>()
  const admin = (port: number): Redis => {
    let client = admins.get(port)
    if (client === undefined) {
      client = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 1 })
      client.on('error', () => {})
      admins.set(port, client)
    }
    return client
  }
  t.teardown(async () => {
    for (const client of admins.values()) client.disconnect()
    for (const child of children) child.kill('SIGCONT')
    await Promise.all(children.map(killAndWait))
    await rm(dir, { recursive: true, force: true })
  })
  const ports: number[] = []
  for (let i = 0; i < masters; i++) {
    const port = await freePort()
    children.push(await spawnRedis(port, [
      '--cluster-enabled', 'yes',
      '--cluster-config-file', `nodes-${port}.conf`,
      '--cluster-node-timeout', String(NODE_TIMEOUT_MS),
      '--dir', dir
    ]))
    ports.push(port)
  }
  await redisCli(ports[0] ?? 0, '--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-yes')
  for (const port of ports) {
    await until(`cluster_state:ok on ${port}`, async () => (await redisCli(port, 'CLUSTER', 'INFO')).includes('cluster_state:ok'))
  }
  const nodes: ClusterNode[] = []
  for (const [i, port] of ports.entries()) {
    const child = children[i]
    nodes.push({
      port,
      id: (await redisCli(port, 'CLUSTER', 'MYID')).trim(),
      pause: () => { child?.kill('SIGSTOP') },
      resume: () => { child?.kill('SIGCONT') }
    })
  }
  const seeds = ports.map((p) => `127.0.0.1:${p}`)
  return {
    nodes,
    seeds,
    async ownerOf (key) {
      const slot = Number(await admin(ports[0] ?? 0).call('CLUSTER', 'KEYSLOT', key))
      // A `CLUSTER NODES` line: id, address, flags, ..., then the slot ranges from field 9 on.
      for (const node of nodes) {
        const mine = String(await admin(node.port).call('CLUSTER', 'NODES')).split('\n').find((line) => line.includes('myself'))
        if (mine?.split(' ').slice(8).some((range) => inRange(range, slot)) === true) return node
      }
      throw new Error(`no node owns slot ${slot}`)
    }
  }
}

function inRange (range: string, slot: number): boolean {
  const [from, to] = range.split('-').map(Number)
  if (from === undefined || Number.isNaN(from)) return false
  return slot >= from && slot <= (to ?? from)
}
