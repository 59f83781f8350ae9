import { Cluster } from 'ioredis'
import type { RedisConnection } from './redis-client'

/** What `/health/full` shows of the Redis in force: where the writes go. No password, no URL. */
export type RedisTopology =
  | { readonly topology: 'single' | 'sentinel', readonly primary: string }
  | { readonly topology: 'cluster', readonly state: string, readonly nodes: number, readonly masters: number }

/**
 * One round trip that proves Redis answers and says what it is: `CLUSTER INFO` on a
 * cluster (its state is what decides whether a slot can be served), PING otherwise,
 * with the address the connection reached (for Sentinel: the primary it was told of).
 */
export async function describeRedis (client: RedisConnection): Promise<RedisTopology> {
  if (client instanceof Cluster) {
    const info = String(await client.cluster('INFO'))
    const field = (name: string): string => new RegExp(`^${name}:(\\S+)`, 'm').exec(info)?.[1] ?? 'unknown'
    return { topology: 'cluster', state: field('cluster_state'), nodes: Number(field('cluster_known_nodes')), masters: Number(field('cluster_size')) }
  }
  await client.ping()
  const socket = client.stream
  const primary = `${socket.remoteAddress ?? client.options.host ?? 'unknown'}:${socket.remotePort ?? client.options.port ?? 0}`
  return { topology: (client.options.sentinels?.length ?? 0) > 0 ? 'sentinel' : 'single', primary }
}
