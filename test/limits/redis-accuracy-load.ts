import { setTimeout as sleep } from 'node:timers/promises'
import Redis from 'ioredis'
import type { Test } from 'tap'
import { Pool } from 'undici'
import type { Algorithm } from '../../src/limits/types'
import { startTollgate, type Tollgate } from '../helpers/child'
import { sha256 } from '../helpers/live'
import { LISTEN } from '../helpers/stack'
import { startUpstream, type Upstream } from '../helpers/upstream'
import type { Interval } from './redis-accuracy-count'

/*
 * The traffic of an accuracy run: N real tollgate processes (the CLI) on one Redis or
 * cluster, each with its own Pool of C connections kept busy by C loops, every answer
 * recorded with the interval in which its script ran.
 */

export interface Row { readonly algorithm: Algorithm, readonly processes: number, readonly connections: number, readonly keys: number, readonly max: number }

export interface Fleet {
  readonly tollgates: readonly Tollgate[]
  readonly upstream: Upstream
  /** Redis time minus ours (ms), and how unsure that is: half the TIME round trip. */
  readonly offset: { readonly ms: number, readonly uncertainty: number }
}

export interface Traffic {
  readonly sent: number
  /** Anything but a counted 200 or a 429: a 5xx, a 200 without RateLimit headers, a thrown request. */
  readonly errors: number
  /** Per key index, the intervals of its admissions and of its refusals. */
  readonly admitted: ReadonlyMap<number, Interval[]>
  readonly refused: ReadonlyMap<number, Interval[]>
  /** The Redis-time span in which every script of the run ran. */
  readonly start: number
  readonly end: number
}

export const PER_MS = 1000
/** Whole windows in each run, and what comes before and after them (ms). */
const WINDOWS = 3
const LEAD_MS = 50
const TAIL_MS = 100

const START_TIMEOUT_MS = 180_000

export const apiKey = (row: number, key: number): string => `accuracy-${row}-${key}`

/**
 * One plan per row (its algorithm and max, per 1 s) and its keys, so the rows share the
 * processes but never a budget. `on_redis_error: deny` and a generous timeout: a check
 * that fails is a 503 the test counts as an error, never an admission it cannot account for.
 */
export function fleetConfig (upstream: string, redis: string, rows: readonly Row[]): string {
  const plans = rows.map((r, i) => `  r${i}: [ { max: ${r.max}, per: 1s, algorithm: ${r.algorithm} } ]`)
  const keys = rows.flatMap((r, i) => Array.from({ length: r.keys }, (_, k) => `  - { name: r${i}k${k}, sha256: "${sha256(apiKey(i, k))}", plan: r${i} }`))
  return `${LISTEN}
upstream: ${upstream}
redis: ${redis}
on_redis_error: deny
access_log: false
plans:
${plans.join('\n')}
keys:
${keys.join('\n')}
`
}

/** `count` tollgate processes on `redis` (a YAML value), one upstream behind them all. */
export async function startFleet (t: Test, redis: string, timePort: number, rows: readonly Row[], count: number): Promise<Fleet> {
  const upstream = await startUpstream(t, { handle: (_req, res) => { res.writeHead(204).end(); return true } })
  const configYaml = fleetConfig(upstream.url, redis, rows)
  // Up to 8 children compiling at once on 2 loaded cores took over a minute to listen.
  const tollgates = await Promise.all(Array.from({ length: count }, async () => await startTollgate(t, { configYaml, readyTimeoutMs: START_TIMEOUT_MS })))
  return { tollgates, upstream, offset: await redisClockOffset(t, timePort) }
}

/** Redis TIME against Date.now(), the best of a few reads (the shortest round trip). */
async function redisClockOffset (t: Test, port: number): Promise<Fleet['offset']> {
  const client = new Redis(port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 1 })
  t.teardown(() => { client.disconnect() })
  await client.connect()
  let best = { ms: 0, uncertainty: Infinity }
  for (let i = 0; i < 20; i++) {
    const before = Date.now()
    const [sec, usec] = await client.time()
    const after = Date.now()
    const redisMs = Number(sec) * 1000 + Number(usec) / 1000
    const uncertainty = (after - before) / 2 + 1 // + 1: Date.now() is whole ms
    if (uncertainty < best.uncertainty) best = { ms: redisMs - (before + after) / 2, uncertainty }
  }
  return best
}

/**
 * Row `index`'s traffic over WINDOWS whole windows: `row.connections` loops per
 * process, each on the keys in turn from its own starting point, so every key is asked
 * about evenly.
 */
export async function drive (fleet: Fleet, index: number, row: Row): Promise<Traffic> {
  const redisTime = (ms: number, sign: number): number => ms + fleet.offset.ms + sign * fleet.offset.uncertainty
  const admitted = new Map<number, Interval[]>(Array.from({ length: row.keys }, (_, k) => [k, []]))
  const refused = new Map<number, Interval[]>(Array.from({ length: row.keys }, (_, k) => [k, []]))
  let sent = 0
  let errors = 0
  // Begin shortly before a window boundary on Redis' clock (however unsure we are of
  // it), and go on until 3 windows from that boundary on are over: 3 whole windows,
  // however late the timers fire on a loaded machine.
  const lead = Date.now() + fleet.offset.ms + fleet.offset.uncertainty + LEAD_MS
  await sleep((PER_MS - (lead % PER_MS)) % PER_MS)
  const start = Date.now()
  const firstWhole = Math.ceil(redisTime(start, -1) / PER_MS) * PER_MS
  const until = firstWhole - fleet.offset.ms + fleet.offset.uncertainty + WINDOWS * PER_MS + TAIL_MS
  const pools = fleet.tollgates.slice(0, row.processes).map((tg) => new Pool(tg.proxyUrl, { connections: row.connections, pipelining: 1 }))
  await Promise.all(pools.flatMap((pool, p) => Array.from({ length: row.connections }, async (_, loop) => {
    let n = p * row.connections + loop
    while (Date.now() < until) {
      const key = n++ % row.keys
      sent++
      const from = Date.now()
      try {
        const res = await pool.request({ path: `/r${index}/${key}`, method: 'GET', headers: { 'x-api-key': apiKey(index, key) } })
        await res.body.dump()
        const interval = { from: redisTime(from, -1), to: redisTime(Date.now(), 1) }
        if (res.statusCode === 429) refused.get(key)?.push(interval)
        else if (res.statusCode === 204 && res.headers['x-ratelimit-remaining'] !== undefined) admitted.get(key)?.push(interval)
        else errors++
      } catch {
        errors++
      }
    }
  })))
  const end = Date.now()
  await Promise.all(pools.map(async (pool) => { await pool.close() }))
  return { sent, refused, errors, admitted, start: redisTime(start, -1), end: redisTime(end, 1) }
}
