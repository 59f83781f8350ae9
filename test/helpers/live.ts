import { createHash } from 'node:crypto'
import Redis from 'ioredis'
import type { Test } from 'tap'
import { textHash } from '../../src/config/load'
import type { Tollgate } from './child'
import type { LogLine } from './child-output'
import { get } from './http'
import { LISTEN } from './stack'

// Shared by the test/config/live-*.test.ts files: config changed under a running CLI.

export const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex')

/** What a rejected reload logs. */
export const REJECTED = 'config reload rejected: the running config stays'

/** The next log line (written after this call) for which `predicate` holds. */
export function nextLog (tollgate: Tollgate, predicate: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine> {
  const from = tollgate.logs().length
  return tollgate.waitForLog((line) => predicate(line) && tollgate.logs().indexOf(line) >= from, timeoutMs)
}

/** Writes `text` and resolves with the reload line for exactly that text. */
export async function reloadTo (tollgate: Tollgate, text: string): Promise<LogLine> {
  const logged = nextLog(tollgate, (l) => l.msg === 'config reloaded' && l.hash === textHash(text))
  await tollgate.writeConfig(text)
  return await logged
}

/** The key of partialConfig (live-partial, live-reject). */
export const PARTIAL_KEY = 'acme-reject-key-9b2f'

/** One plan of `max` an hour, PARTIAL_KEY on it, then `extra`. */
export const partialConfig = (upstream: string, max: number, extra = ''): string => `${LISTEN}
upstream: ${upstream}
plans: { free: [ { max: ${max}, per: 1h } ] }
keys: [ { name: acme, key: ${PARTIAL_KEY}, plan: free } ]
${extra}`

/** `"status limit"` of one request with PARTIAL_KEY, e.g. `"200 10"`. */
export async function limitInForce (tollgate: Tollgate): Promise<string> {
  const res = await get(`${tollgate.proxyUrl}/x`, { 'x-api-key': PARTIAL_KEY })
  return `${res.status} ${String(res.headers['x-ratelimit-limit'])}`
}

/** The reload counters, the last-reload gauge and the config hash of /metrics. */
export async function reloadMetrics (tollgate: Tollgate): Promise<{ success: number, failure: number, lastOk: number, info: string }> {
  const { body } = await get(`${tollgate.adminUrl}/metrics`)
  const value = (series: string): string => {
    const line = body.split('\n').find((l) => l.startsWith(series))
    if (line === undefined) throw new Error(`no series ${series} in /metrics`)
    return line.slice(line.lastIndexOf(' ') + 1)
  }
  return {
    success: Number(value('tollgate_config_reloads_total{result="success"} ')),
    failure: Number(value('tollgate_config_reloads_total{result="failure"} ')),
    lastOk: Number(value('tollgate_config_last_reload_successful ')),
    info: /tollgate_config_info\{hash="([0-9a-f]+)"\} 1/.exec(body)?.[1] ?? 'none'
  }
}

/** The key of redisConfig (live-redis, live-redis-dead). */
export const REDIS_KEY = 'acme-redis-key-2e7b'

/** A config on `redis`, REDIS_KEY on a slow-refill plan. */
export const redisConfig = (upstream: string, redis: string): string => `${LISTEN}
upstream: ${upstream}
redis: ${redis}
# Slow refill (gcra, 1000 a day): a count stays readable on the server for minutes.
plans: { free: [ { max: 1000, per: 1d } ] }
keys: [ { name: acme, sha256: "${sha256(REDIS_KEY)}", plan: free } ]
`

/** A client of our own on a test redis-server, to look at what tollgate left there. */
export function inspect (t: Test, url: string): Redis {
  const client = new Redis(url, { connectionName: 'inspector', maxRetriesPerRequest: 1 })
  t.teardown(() => { client.disconnect() })
  return client
}

/** tollgate's connections to that server: every client but ours. */
export async function tollgateClients (client: Redis): Promise<number> {
  const list = await client.client('LIST') as string
  return list.split('\n').filter((line) => line !== '' && !line.includes('name=inspector')).length
}
