import type { BenchContext } from './context'
import { pooledPercentiles, at } from './distribution'
import { PERCENTILES, type LoadRun, type Loader } from './load'
import { CLK_TCK, cpuSeconds, machineJiffies, ownAndChildrenCpuSeconds, rssBytes } from './proc-stat'
import { DECISION_HEADERS, DECISION_PATH, type Row } from './rows'
import type { Base, Target } from './stacks'

/**
 * Runs the rows: a warm-up each, then rounds that alternate the order (forward, then
 * backward), so load from other jobs on a shared machine spreads over every row. Around
 * each run it samples the CPU time of the proxy, Redis, the upstream, the load generator
 * and the machine, and at the end of each the proxy's RSS.
 */

/** A row ready to load. */
export interface Prepared {
  row: Row
  target: Target
  loader: Loader
  keys: readonly string[]
}

interface Round {
  run: LoadRun
  /** CPU seconds during the run; undefined where the row has no proxy. */
  proxy: number | undefined
  redis: number
  upstream: number
  loadgen: number
  machine: { busy: number, total: number }
  /** Bytes, summed over the proxy processes, after the run. */
  rss: number | undefined
}

export interface Measurement {
  row: Row
  rounds: number
  responses: number
  reqPerSec: number
  /** Pooled over the rounds, `[percentile, ms]`. */
  latency: Array<[number, number]>
  p50: number
  p99: number
  statuses: Map<number, number>
  errors: number
  /** µs of proxy CPU per response, over all rounds; its best and worst round. */
  cpuPerRequest: number | undefined
  cpuRange: [number, number] | undefined
  redisPerRequest: number
  /** At the end of the last round. */
  rss: number | undefined
  /** Share of the machine's CPU used by processes that are not the bench's. */
  othersBusy: number
}

const sum = (values: readonly number[]): number => values.reduce((a, b) => a + b, 0)

function cpuOf (pids: readonly number[]): number {
  return sum(pids.map(cpuSeconds))
}

async function runRound (p: Prepared, base: Base, seconds: number, ctx: BenchContext): Promise<Round> {
  const pids = p.target.proxyPids()
  const redisPid = base.redis.pid
  if (redisPid === undefined) throw new Error('redis-server has exited: every row after this one would measure nothing')
  const upstreamPid = base.upstream.pid
  const before = { proxy: cpuOf(pids), redis: cpuSeconds(redisPid), upstream: cpuSeconds(upstreamPid), loadgen: ownAndChildrenCpuSeconds(), machine: machineJiffies() }
  const run = await p.loader({
    url: p.row.asks === 'decision' ? `${p.target.url}${DECISION_PATH}` : p.target.url,
    keys: p.keys,
    ...(p.row.asks === 'decision' ? { headers: DECISION_HEADERS } : {}),
    seconds,
    connections: ctx.options.connections,
    threads: ctx.options.threads,
    ...(p.row.load === 'fixed' ? { rate: ctx.options.rate } : {})
  })
  const machine = machineJiffies()
  return {
    run,
    proxy: pids.length === 0 ? undefined : cpuOf(pids) - before.proxy,
    redis: cpuSeconds(redisPid) - before.redis,
    upstream: cpuSeconds(upstreamPid) - before.upstream,
    loadgen: ownAndChildrenCpuSeconds() - before.loadgen,
    machine: { busy: machine.busy - before.machine.busy, total: machine.total - before.machine.total },
    rss: pids.length === 0 ? undefined : sum(pids.map(rssBytes))
  }
}

function aggregate (row: Row, rounds: readonly Round[]): Measurement {
  const responses = sum(rounds.map((r) => r.run.responses))
  const perRequest = (seconds: number): number => responses === 0 ? NaN : seconds * 1e6 / responses
  const statuses = new Map<number, number>()
  for (const r of rounds) for (const [status, count] of r.run.statuses) statuses.set(status, (statuses.get(status) ?? 0) + count)
  const latency = pooledPercentiles(rounds.map((r) => ({ count: r.run.responses, points: r.run.latency })), PERCENTILES)
  const proxy = rounds.map((r) => r.proxy)
  const perRound = rounds.flatMap((r) => r.proxy === undefined || r.run.responses === 0 ? [] : [r.proxy * 1e6 / r.run.responses])
  const machineSeconds = sum(rounds.map((r) => r.machine.total)) / CLK_TCK
  const ours = sum(rounds.map((r) => (r.proxy ?? 0) + r.redis + r.upstream + r.loadgen))
  const busy = sum(rounds.map((r) => r.machine.busy)) / CLK_TCK
  return {
    row,
    rounds: rounds.length,
    responses,
    reqPerSec: responses / Math.max(1e-9, sum(rounds.map((r) => r.run.seconds))),
    latency,
    p50: at(latency, 50),
    p99: at(latency, 99),
    statuses,
    errors: sum(rounds.map((r) => r.run.errors)),
    cpuPerRequest: proxy.some((s) => s === undefined) ? undefined : perRequest(sum(proxy.map((s) => s ?? 0))),
    cpuRange: perRound.length === 0 ? undefined : [Math.min(...perRound), Math.max(...perRound)],
    redisPerRequest: perRequest(sum(rounds.map((r) => r.redis))),
    rss: rounds[rounds.length - 1]?.rss,
    othersBusy: machineSeconds > 0 ? Math.max(0, busy - ours) / machineSeconds : NaN
  }
}

/**
 * V8 optimises a function after thousands of calls, not seconds: on a busy machine a few
 * seconds at a few hundred req/s would measure the interpreter and the compiler threads.
 * So the warm-up goes on, `--warmup` seconds at a time, until the row has seen this many
 * responses or WARM_MAX_SECONDS have passed.
 */
export const WARM_RESPONSES = 10_000
export const WARM_MAX_SECONDS = 15

async function warmUp (p: Prepared, base: Base, ctx: BenchContext): Promise<void> {
  const step = ctx.options.warmup
  let seconds = 0
  let responses = 0
  do {
    responses += (await runRound(p, base, step, ctx)).run.responses
    seconds += step
  } while (responses < WARM_RESPONSES && seconds + step <= Math.max(step, WARM_MAX_SECONDS))
  if (responses < WARM_RESPONSES) ctx.note(`"${p.row.label}": warmed up with only ${responses} responses in ${seconds} s; V8 may not have optimised its hot path yet`)
}

export async function measureAll (prepared: readonly Prepared[], base: Base, ctx: BenchContext): Promise<Measurement[]> {
  const { rounds, duration, warmup } = ctx.options
  if (warmup > 0) {
    ctx.log(`warm-up: ${warmup} s per row, longer (up to ${WARM_MAX_SECONDS} s) until ${WARM_RESPONSES} responses`)
    for (const p of prepared) await warmUp(p, base, ctx)
  }
  const byRow = new Map<string, Round[]>(prepared.map((p) => [p.row.id, []]))
  for (let i = 0; i < rounds; i++) {
    const order = i % 2 === 0 ? prepared : [...prepared].reverse()
    ctx.log(`round ${i + 1} of ${rounds}: ${order.length} rows, ${duration} s each`)
    for (const p of order) byRow.get(p.row.id)?.push(await runRound(p, base, duration, ctx))
  }
  return prepared.map((p) => aggregate(p.row, byRow.get(p.row.id) ?? []))
}

/** The share of a row's responses that must have its expected status, or the setup is wrong. */
const EXPECTED_SHARE = 0.99

/** Warns about a row whose statuses show a broken setup, notes one measured on a busy machine. */
export function checkMeasurement (m: Measurement, ctx: BenchContext): void {
  const got = m.statuses.get(m.row.expect) ?? 0
  const share = got / Math.max(1, m.responses + m.errors)
  if (m.responses === 0 || share < EXPECTED_SHARE) {
    const seen = [...m.statuses].map(([s, c]) => `${s}×${c}`).join(' ') || 'none'
    ctx.warn(`"${m.row.label}": ${(share * 100).toFixed(2)}% of ${m.responses} responses (+${m.errors} errors) were ${m.row.expect}, expected ≥ ${EXPECTED_SHARE * 100}% (statuses: ${seen})`)
  }
  if (m.othersBusy > 0.1) ctx.note(`"${m.row.label}": other processes used ${(m.othersBusy * 100).toFixed(0)}% of the machine's CPU during its runs`)
}
