import { execFileSync, spawnSync } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { cpus, loadavg, release, tmpdir } from 'node:os'
import { join } from 'node:path'
import autocannon from 'autocannon'
import { freePort } from '../test/helpers/ports'
import {
  CLK_TCK, cpuSeconds, machineJiffies, REPO_ROOT, RUN_TS, removeOnExit, safeRead, sleep, startChild, startRedis, stopAll,
  waitForFileLine, waitForPort, waitForStdout, type Child, type RedisChild
} from './procs'
import { summarizeProfile } from './profile'

/**
 * `npm run bench`: a bounded load benchmark on loopback. It starts a real upstream, a
 * real redis-server and tollgate from its real CLI (compiled), plus two reference
 * proxies, drives each with autocannon, and reports throughput, latency and, steadiest
 * on a small machine, each process's CPU time per request (from /proc/PID/stat). It
 * asserts nothing about speed; it warns when a scenario's status codes show the bench
 * itself is misconfigured. Prints a table and writes bench/RESULTS.md.
 *
 * Flags: --rounds N (3), --duration S (4: seconds per scenario per round; whole
 * seconds, autocannon stops on its 1 s tick), --warmup S (3), --connections N (50),
 * --rate R (send R requests/s in total instead of as many as the connections can: a
 * fixed load gives every stack the same arrival pattern; with less batching than at
 * saturation the µs per request come out higher), --breakdown (two more tollgate
 * processes in the rounds: one at log_level warn, so no access-log line, and one on
 * the embedded memory store instead of Redis; the differences say what the log line
 * and the Redis round trip cost), --no-build,
 * --no-write (do not touch RESULTS.md), --profile (instead of the scenarios: run the
 * allowed scenario against tollgate under `node --cpu-prof` and print the top
 * self-time packages and functions; --top N sets how many functions, default 30).
 */

interface Options {
  /** Also measure tollgate variants that each drop one cost (the access log, Redis). */
  breakdown: boolean
  /** Total requests per second autocannon sends; 0: as fast as the connections go. */
  rate: number
  rounds: number
  duration: number
  warmup: number
  connections: number
  build: boolean
  write: boolean
  profile: boolean
  /** How many functions the profile summary lists. */
  top: number
}

function parseOptions (argv: readonly string[]): Options {
  const options: Options = { breakdown: false, rate: 0, rounds: 3, duration: 4, warmup: 3, connections: 50, build: true, write: true, profile: false, top: 30 }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    const number = (): number => {
      const value = Number(argv[++i])
      if (!Number.isFinite(value) || value <= 0) throw new Error(`${arg} needs a positive number`)
      return value
    }
    if (arg === '--duration') options.duration = Math.max(1, Math.round(number()))
    else if (arg === '--rounds') options.rounds = Math.round(number())
    else if (arg === '--rate') options.rate = Math.round(number())
    else if (arg === '--warmup') options.warmup = number()
    else if (arg === '--connections') options.connections = Math.round(number())
    else if (arg === '--no-build') options.build = false
    else if (arg === '--no-write') options.write = false
    else if (arg === '--profile') options.profile = true
    else if (arg === '--breakdown') options.breakdown = true
    else if (arg === '--top') options.top = Math.round(number())
    else throw new Error(`unknown argument ${arg}; see the comment at the top of bench/run.ts`)
  }
  return options
}

const KEY_COUNT = 1000
const PATH = '/v1/items'
const RESULTS_FILE = join(REPO_ROOT, 'bench', 'RESULTS.md')
const NOTES_BEGIN = '<!-- notes:begin (kept by bench/run.ts across runs) -->'
const NOTES_END = '<!-- notes:end -->'
/** The share of a scenario's responses that must have the expected status, or the bench config is wrong. */
const EXPECTED_SHARE = 0.99

const warnings: string[] = []
function warn (message: string): void {
  warnings.push(message)
  process.stdout.write(`WARNING: ${message}\n`)
}

function log (message: string): void {
  process.stdout.write(`bench: ${message}\n`)
}

// ---------------------------------------------------------------------------- setup

interface BenchKey { name: string, key: string, sha256: string }

function makeKeys (): { allowed: BenchKey[], refused: BenchKey } {
  const make = (name: string): BenchKey => {
    const key = `bench-${name}-${randomBytes(12).toString('hex')}`
    return { name, key, sha256: createHash('sha256').update(key).digest('hex') }
  }
  const allowed = Array.from({ length: KEY_COUNT }, (_, i) => make(`k${String(i).padStart(4, '0')}`))
  return { allowed, refused: make('refused') }
}

/** `redisUrl` undefined: the embedded memory store. */
function tollgateConfig (upstreamUrl: string, redisUrl: string | undefined, keys: { allowed: BenchKey[], refused: BenchKey }, logLevel = 'info', proxyPort = 0): string {
  const lines = [
    '# written by bench/run.ts',
    'listen:',
    `  proxy: 127.0.0.1:${proxyPort}`,
    '  admin: 127.0.0.1:0',
    `upstream: ${upstreamUrl}`,
    ...(redisUrl === undefined ? [] : [`redis: ${redisUrl}`]),
    'on_redis_error: allow',
    `log_level: ${logLevel}`,
    'plans:',
    // Generous: ~5 requests/s reach each key; the allowed scenario must never be refused.
    '  bench: [ { max: 1000000, per: 1s } ]',
    // One request per hour: after the first, every request of the refused scenario is a 429.
    '  tiny: [ { max: 1, per: 1h } ]',
    'keys:',
    ...keys.allowed.map((k) => `  - { name: ${k.name}, sha256: "${k.sha256}", plan: bench }`),
    `  - { name: ${keys.refused.name}, sha256: "${keys.refused.sha256}", plan: tiny }`,
    'shutdown: { grace: 2s, drain_delay: 0s }',
    ''
  ]
  return lines.join('\n')
}

function build (): void {
  log('building tollgate (tsc -p tsconfig.build.json, as `npm run build`)')
  const tsc = require.resolve('typescript/bin/tsc', { paths: [REPO_ROOT] })
  const result = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: REPO_ROOT, encoding: 'utf8' })
  if (result.status !== 0) {
    const output = `${result.stdout}${result.stderr}`.trim().split('\n').slice(0, 10).join('\n')
    if (!existsSync(join(REPO_ROOT, 'dist', 'cli.js'))) throw new Error(`npm run build failed and left no dist/cli.js:\n${output}`)
    warn(`npm run build reported errors (tsc still emitted dist/; measuring that):\n${output}`)
  }
}

/** A bench helper (.ts) in its own process; resolves with its port once it prints `LISTENING <port>`. */
async function startHelper (name: string, file: string, args: string[]): Promise<{ child: Child, url: string }> {
  const child = startChild(name, process.execPath, [RUN_TS, join(REPO_ROOT, 'bench', file), ...args], {
    stdio: ['ignore', 'pipe', 'inherit']
  })
  const match = await waitForStdout(child, /LISTENING (\d+)/, 30_000)
  return { child, url: `http://127.0.0.1:${match[1]}` }
}

interface TollgateChild { child: Child, url: string, logFile: string }

/**
 * `proxyPort`: the port the config names, for a config whose log level hides the
 * `tollgate listening` line; 0: read the port from that line.
 */
async function startTollgate (dir: string, configPath: string, nodeFlags: string[] = [], proxyPort = 0): Promise<TollgateChild> {
  const logFile = join(dir, 'tollgate.log')
  const errFile = join(dir, 'tollgate.stderr')
  const out = openSync(logFile, 'a')
  const err = openSync(errFile, 'a')
  let child: Child
  try {
    // The access log is part of the real cost; it goes to a file, never through the bench process.
    child = startChild('tollgate', process.execPath, [...nodeFlags, join(REPO_ROOT, 'bin', 'tollgate.js'), '--config', configPath], {
      cwd: dir,
      stdio: ['ignore', out, err]
    })
  } finally {
    closeSync(out)
    closeSync(err)
  }
  if (proxyPort !== 0) {
    await waitForPort(proxyPort, 20_000, child)
    return { child, url: `http://127.0.0.1:${proxyPort}`, logFile }
  }
  const match = await waitForFileLine(child, logFile, /^.*"msg":"tollgate listening".*$/m, 20_000, errFile)
  const line = JSON.parse(match[0]) as { proxy?: unknown }
  if (typeof line.proxy !== 'string') throw new Error(`the listening line has no proxy URL: ${match[0]}`)
  return { child, url: line.proxy.replace('://localhost', '://127.0.0.1'), logFile }
}

// ------------------------------------------------------------------------- sanity

async function expectStatus (what: string, url: string, headers: Record<string, string>, status: number, check?: (res: Response, body: string) => string | undefined): Promise<void> {
  try {
    const res = await fetch(url, { headers })
    const body = await res.text()
    if (res.status !== status) {
      warn(`${what}: expected ${status}, got ${res.status} ${body.slice(0, 300)}`)
      return
    }
    const problem = check?.(res, body)
    if (problem !== undefined) warn(`${what}: ${problem}`)
  } catch (error) {
    warn(`${what}: request failed: ${error instanceof Error ? error.message : String(error)}`)
  }
}

// --------------------------------------------------------------------------- load

interface LoadRun {
  result: autocannon.Result
  responses: number
  /** Response times of every response (any status), ms, sorted ascending. */
  latencies: Float64Array
  statuses: Map<number, number>
}

async function load (url: string, requests: autocannon.Request[], seconds: number, connections: number, rate = 0): Promise<LoadRun> {
  let latencies = new Float64Array(1 << 18)
  let count = 0
  const statuses = new Map<number, number>()
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const tracker = autocannon({ url, connections, duration: seconds, pipelining: 1, timeout: 10, requests, ...(rate > 0 ? { overallRate: rate } : {}) }, (error, res) => {
      if (error !== null) reject(error)
      else resolve(res)
    })
    tracker.on('response', (_client: unknown, statusCode: number, _bytes: number, responseTime: number) => {
      if (count === latencies.length) {
        const bigger = new Float64Array(latencies.length * 2)
        bigger.set(latencies)
        latencies = bigger
      }
      latencies[count++] = responseTime
      statuses.set(statusCode, (statuses.get(statusCode) ?? 0) + 1)
    })
  })
  const sorted = latencies.slice(0, count).sort()
  return { result, responses: count, latencies: sorted, statuses }
}

function percentile (sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]
}

interface Watched {
  /** The process under test (proxy), if any. */
  proxy?: Child
  redis?: Child
  upstream: Child
}

interface Scenario {
  id: string
  label: string
  url: string
  requests: autocannon.Request[]
  watched: Watched
  /** The status nearly every response must have, or the bench setup is wrong. */
  expect: number
}

/** One measured autocannon run of one scenario. */
interface Round {
  responses: number
  seconds: number
  latencies: Float64Array
  statuses: Map<number, number>
  errors: number
  timeouts: number
  /** CPU seconds used during the run, per process. */
  cpu: { proxy?: number, redis?: number, upstream: number, loadgen: number }
  machine: { busy: number, total: number }
  /** performance.now() at the start and the end of the run. */
  from: number
  to: number
}

interface Measurement {
  id: string
  label: string
  rounds: number
  responses: number
  seconds: number
  reqPerSec: number
  p50: number
  p99: number
  statuses: Map<number, number>
  errors: number
  timeouts: number
  /** µs of CPU per completed response, per process, over all rounds. */
  cpu: { proxy?: number, redis?: number, upstream: number, loadgen: number }
  /** The proxy's µs per request in its best and worst round. */
  proxyRange?: [number, number]
  /** Share of the whole machine's CPU in use during the runs, 0..1. */
  machineBusy: number
  /** Share of the machine's CPU used by processes other than the bench's own during the runs, 0..1. */
  othersBusy: number
  /** performance.now() at the start and the end of the first round. */
  window: { from: number, to: number }
}

function assertAlive (s: Scenario, when: string): void {
  for (const child of [s.watched.proxy, s.watched.redis, s.watched.upstream]) {
    if (child?.exitInfo !== undefined) throw new Error(`${child.name} (pid ${child.pid}) exited ${when} "${s.label}" (${child.exitInfo})`)
  }
}

async function warmUp (s: Scenario, options: Options): Promise<void> {
  assertAlive(s, 'before')
  log(`${s.label}: warm-up ${options.warmup}s`)
  await load(s.url, s.requests, options.warmup, options.connections, options.rate)
  await sleep(300)
}

async function runRound (s: Scenario, options: Options): Promise<Round> {
  const { watched } = s
  assertAlive(s, 'before')
  const cpuOf = (child: Child | undefined): number | undefined => child === undefined ? undefined : cpuSeconds(child.pid)
  const before = { proxy: cpuOf(watched.proxy), redis: cpuOf(watched.redis), upstream: cpuSeconds(watched.upstream.pid), loadgen: process.cpuUsage(), machine: machineJiffies() }
  const from = performance.now()
  const run = await load(s.url, s.requests, options.duration, options.connections, options.rate)
  const to = performance.now()
  assertAlive(s, 'during')
  const after = { proxy: cpuOf(watched.proxy), redis: cpuOf(watched.redis), upstream: cpuSeconds(watched.upstream.pid), loadgen: process.cpuUsage(before.loadgen), machine: machineJiffies() }
  const delta = (b: number | undefined, a: number | undefined): number | undefined => b === undefined || a === undefined ? undefined : a - b
  const round: Round = {
    responses: run.responses,
    seconds: run.result.duration,
    latencies: run.latencies,
    statuses: run.statuses,
    errors: run.result.errors,
    timeouts: run.result.timeouts,
    cpu: {
      proxy: delta(before.proxy, after.proxy),
      redis: delta(before.redis, after.redis),
      upstream: after.upstream - before.upstream,
      loadgen: (after.loadgen.user + after.loadgen.system) / 1e6
    },
    machine: { busy: after.machine.busy - before.machine.busy, total: after.machine.total - before.machine.total },
    from,
    to
  }
  const perRequest = round.cpu.proxy === undefined ? '' : `, proxy ${(round.cpu.proxy * 1e6 / Math.max(1, round.responses)).toFixed(1)} µs CPU/request`
  log(`${s.label}: ${Math.round(round.responses / round.seconds)} req/s, p50 ${percentile(round.latencies, 0.5).toFixed(2)} ms, ` +
    `p99 ${percentile(round.latencies, 0.99).toFixed(2)} ms, statuses ${[...round.statuses].map(([c, n]) => `${c}×${n}`).join(' ')}, errors ${round.errors}${perRequest}`)
  await sleep(300)
  return round
}

function aggregate (s: Scenario, rounds: readonly Round[]): Measurement {
  const sum = (f: (r: Round) => number): number => rounds.reduce((total, r) => total + f(r), 0)
  const sumOpt = (f: (r: Round) => number | undefined): number | undefined =>
    rounds.some((r) => f(r) === undefined) ? undefined : sum((r) => f(r) ?? 0)
  const responses = sum((r) => r.responses)
  const n = Math.max(1, responses)
  const seconds = sum((r) => r.seconds)
  const latencies = new Float64Array(responses)
  let at = 0
  for (const r of rounds) {
    latencies.set(r.latencies, at)
    at += r.latencies.length
  }
  latencies.sort()
  const statuses = new Map<number, number>()
  for (const r of rounds) for (const [code, count] of r.statuses) statuses.set(code, (statuses.get(code) ?? 0) + count)
  const perRequest = (seconds: number | undefined): number | undefined => seconds === undefined ? undefined : seconds * 1e6 / n
  const proxyPerRound = rounds.map((r) => r.cpu.proxy === undefined ? NaN : r.cpu.proxy * 1e6 / Math.max(1, r.responses))
  const machineTotal = sum((r) => r.machine.total)
  const machineBusy = sum((r) => r.machine.busy)
  const oursSeconds = sum((r) => (r.cpu.proxy ?? 0) + (r.cpu.redis ?? 0) + r.cpu.upstream + r.cpu.loadgen)
  return {
    id: s.id,
    label: s.label,
    rounds: rounds.length,
    responses,
    seconds,
    reqPerSec: responses / seconds,
    p50: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99),
    statuses,
    errors: sum((r) => r.errors),
    timeouts: sum((r) => r.timeouts),
    cpu: {
      proxy: perRequest(sumOpt((r) => r.cpu.proxy)),
      redis: perRequest(sumOpt((r) => r.cpu.redis)),
      upstream: perRequest(sum((r) => r.cpu.upstream)) ?? NaN,
      loadgen: perRequest(sum((r) => r.cpu.loadgen)) ?? NaN
    },
    proxyRange: s.watched.proxy === undefined ? undefined : [Math.min(...proxyPerRound), Math.max(...proxyPerRound)],
    machineBusy: machineTotal > 0 ? machineBusy / machineTotal : NaN,
    othersBusy: machineTotal > 0 ? Math.max(0, (machineBusy / CLK_TCK - oursSeconds) / (machineTotal / CLK_TCK)) : NaN,
    window: { from: rounds[0].from, to: rounds[0].to }
  }
}

/**
 * Every scenario is warmed up once, then measured in `options.rounds` rounds that
 * interleave the scenarios (forward order, then backward, ...), so a neighbour's load
 * that comes and goes on a shared machine spreads over all scenarios instead of
 * landing on one.
 */
async function measureAll (scenarios: readonly Scenario[], options: Options): Promise<Measurement[]> {
  for (const s of scenarios) await warmUp(s, options)
  const rounds = new Map<string, Round[]>(scenarios.map((s) => [s.id, []]))
  for (let i = 0; i < options.rounds; i++) {
    const order = i % 2 === 0 ? scenarios : [...scenarios].reverse()
    log(`round ${i + 1} of ${options.rounds}, ${options.duration}s per scenario, ${options.connections} connections${options.rate > 0 ? `, ${options.rate} req/s` : ''}`)
    for (const s of order) rounds.get(s.id)?.push(await runRound(s, options))
  }
  return scenarios.map((s) => aggregate(s, rounds.get(s.id) ?? []))
}

const notes: string[] = []
/** Other jobs on the machine: not a bench error, but the reader must know. */
function noteNoise (m: Measurement): void {
  if (m.othersBusy > 0.1) {
    const message = `"${m.label}": other processes used ${(m.othersBusy * 100).toFixed(0)}% of the machine's CPU during the measured run; its numbers are noisier than usual`
    notes.push(message)
    process.stdout.write(`NOISE: ${message}\n`)
  }
}

function expectShare (m: Measurement, status: number): void {
  const got = m.statuses.get(status) ?? 0
  const share = got / Math.max(1, m.responses + m.errors)
  if (m.responses === 0 || share < EXPECTED_SHARE) {
    warn(`"${m.label}": ${(share * 100).toFixed(2)}% of ${m.responses} responses (+${m.errors} errors) were ${status}, expected ≥ ${EXPECTED_SHARE * 100}%; the bench config is wrong or something broke (statuses: ${[...m.statuses].map(([s, c]) => `${s}×${c}`).join(' ') || 'none'})`)
  }
}

// ------------------------------------------------------------------------- report

function fmt (value: number | undefined, digits: number): string {
  return value === undefined || Number.isNaN(value) ? '–' : value.toFixed(digits)
}

const HEADER = ['scenario', 'req/s', 'req/s ÷ direct', 'p50 ms', 'p99 ms', 'p99 ÷ direct', '2xx', '429', 'other', 'errors',
  'proxy µs CPU/req', 'per round', 'redis µs/req', 'upstream µs/req', 'autocannon µs/req', 'machine busy', 'of it others']

function rows (ms: readonly Measurement[]): string[][] {
  const direct = ms.find((m) => m.id === 'direct')
  return ms.map((m) => {
    let ok = 0
    let other = 0
    for (const [status, count] of m.statuses) {
      if (status >= 200 && status < 300) ok += count
      else if (status !== 429) other += count
    }
    return [
      m.label,
      fmt(m.reqPerSec, 0),
      direct === undefined ? '–' : fmt(m.reqPerSec / direct.reqPerSec, 2),
      fmt(m.p50, 2),
      fmt(m.p99, 2),
      direct === undefined ? '–' : fmt(m.p99 / direct.p99, 2),
      String(ok),
      String(m.statuses.get(429) ?? 0),
      String(other),
      String(m.errors),
      fmt(m.cpu.proxy, 1),
      m.proxyRange === undefined ? '–' : `${fmt(m.proxyRange[0], 0)}–${fmt(m.proxyRange[1], 0)}`,
      fmt(m.cpu.redis, 1),
      fmt(m.cpu.upstream, 1),
      fmt(m.cpu.loadgen, 1),
      `${fmt(m.machineBusy * 100, 0)}%`,
      `${fmt(m.othersBusy * 100, 0)}%`
    ]
  })
}

function textTable (header: string[], body: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i].length)))
  const line = (r: string[]): string => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ')
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n')
}

function markdownTable (header: string[], body: string[][]): string {
  const line = (r: string[]): string => `| ${r.join(' | ')} |`
  return [line(header), `| ${header.map((_, i) => (i === 0 ? '---' : '---:')).join(' | ')} |`, ...body.map(line)].join('\n')
}

function reading (ms: readonly Measurement[]): string[] {
  const by = (id: string): Measurement | undefined => ms.find((m) => m.id === id)
  const direct = by('direct')
  const allowed = by('allowed')
  const refused = by('refused')
  const replyFrom = by('reply-from')
  const undici = by('undici')
  const out: string[] = []
  const us = (v: number | undefined): string => `${fmt(v, 1)} µs`
  if (allowed?.cpu.proxy !== undefined) {
    const goal = allowed.cpu.proxy <= 50 ? 'within' : 'over'
    out.push(`- **tollgate, allowed (proxied, limited) request: ${us(allowed.cpu.proxy)} of tollgate CPU per request**, ${goal} the ≤ 50 µs goal` +
      (direct === undefined ? '.' : `, at ${fmt(allowed.reqPerSec / direct.reqPerSec, 2)}× direct throughput and ${fmt(allowed.p99 / direct.p99, 1)}× direct p99.`) +
      ` Redis spends another ${us(allowed.cpu.redis)} per request on the Lua check (its own process).`)
  }
  if (refused?.cpu.proxy !== undefined) {
    out.push(`- **tollgate, refused request (429): ${us(refused.cpu.proxy)}** per request: identity, the Redis round trip, the 429 body and the access-log line, with no forwarding.`)
  }
  if (undici?.cpu.proxy !== undefined && replyFrom?.cpu.proxy !== undefined) {
    const delta = replyFrom.cpu.proxy - undici.cpu.proxy
    const cheaper = delta > 0 ? 'The bare undici `Pool`' : '@fastify/reply-from'
    const a = undici.proxyRange
    const b = replyFrom.proxyRange
    const oneRound = undici.rounds < 2
    const overlap = a !== undefined && b !== undefined && a[0] <= b[1] && b[0] <= a[1]
    out.push(`- **Forwarding layer:** minimal Fastify + undici \`Pool\`: ${us(undici.cpu.proxy)}; minimal Fastify + @fastify/reply-from: ${us(replyFrom.cpu.proxy)}. ` +
      `${cheaper} measured cheaper, by ${us(Math.abs(delta))} per request (${fmt(Math.abs(delta) / Math.min(undici.cpu.proxy, replyFrom.cpu.proxy) * 100, 0)}%)` +
      (oneRound
        ? ' (one round: no spread measured, so no telling noise from difference).'
        : overlap
        ? '; but their per-round ranges overlap, so in this run the difference is within the noise.'
        : ', and every round agrees (the per-round ranges do not overlap).'))
    if (allowed?.cpu.proxy !== undefined) {
      out.push(`- **Where tollgate's CPU goes:** forwarding through Fastify + undici costs ~${us(undici.cpu.proxy)} (the undici reference); ` +
        `the remaining ~${us(allowed.cpu.proxy - undici.cpu.proxy)} per allowed request is tollgate's own work: identity (sha256 of the key), the ioredis ` +
        `EVALSHA round trip, @fastify/rate-limit's hook, the rate-limit headers and the per-request pino access-log line.` +
        (refused?.cpu.proxy === undefined ? '' : ` A refusal (${us(refused.cpu.proxy)}) has that work without forwarding.`))
    }
  }
  const noLog = by('allowed-no-log')
  const memory = by('allowed-memory')
  if (allowed?.cpu.proxy !== undefined && noLog?.cpu.proxy !== undefined) {
    out.push(`- **The access-log line:** tollgate at \`log_level: warn\` spends ${us(noLog.cpu.proxy)} per allowed request, so the pino line costs ~${us(allowed.cpu.proxy - noLog.cpu.proxy)}.`)
  }
  if (allowed?.cpu.proxy !== undefined && memory?.cpu.proxy !== undefined) {
    out.push(`- **The Redis round trip:** tollgate on the embedded memory store spends ${us(memory.cpu.proxy)} per allowed request, so ioredis and the EVALSHA round trip cost tollgate ~${us(allowed.cpu.proxy - memory.cpu.proxy)} (plus Redis's own ${us(allowed.cpu.redis)}).`)
  }
  if (direct !== undefined) {
    out.push(`- **Direct baseline:** ${fmt(direct.reqPerSec, 0)} req/s with the upstream at ${us(direct.cpu.upstream)} per request; the load generator (autocannon, ` +
      `in the bench process) spent ${us(direct.cpu.loadgen)} per request and the machine was ${fmt(direct.machineBusy * 100, 0)}% busy, so the baseline is bounded by ` +
      'the two cores being shared between autocannon and the upstream, not by the upstream alone.')
  }
  return out
}

function machineInfo (): { nproc: string, cpu: string, node: string, kernel: string, redis: string } {
  const run = (cmd: string, args: string[]): string => {
    try {
      return execFileSync(cmd, args, { encoding: 'utf8' }).trim()
    } catch {
      return '?'
    }
  }
  return {
    nproc: run('nproc', []),
    cpu: cpus()[0]?.model ?? '?',
    node: process.version,
    kernel: release(),
    redis: run('redis-server', ['--version']).replace(/^Redis server v=(\S+).*$/, '$1')
  }
}

function keptNotes (): string {
  const previous = safeRead(RESULTS_FILE)
  const begin = previous.indexOf(NOTES_BEGIN)
  const end = previous.indexOf(NOTES_END)
  if (begin === -1 || end === -1 || end < begin) return `${NOTES_BEGIN}\n${NOTES_END}`
  return previous.slice(begin, end + NOTES_END.length)
}

function resultsMarkdown (ms: readonly Measurement[], options: Options, command: string, startedAt: Date, totalSeconds: number, loadAtStart: string): string {
  const machine = machineInfo()
  return `# tollgate benchmark results

Generated by \`bench/run.ts\`; a new run rewrites everything but the notes section at the end.

- **Command:** \`${command}\`
- **Date:** ${startedAt.toISOString()} (whole run ${totalSeconds.toFixed(0)} s)
- **Machine:** ${machine.nproc} CPUs (\`nproc\`), ${machine.cpu}, Linux ${machine.kernel}; Node ${machine.node}; redis-server ${machine.redis}
- **Load average at the start:** ${loadAtStart} (1, 5, 15 min; the machine is shared with other jobs, see "of it others")
- **Load:** autocannon, ${options.connections} connections, pipelining 1, ${options.rate > 0 ? `a fixed ${options.rate} requests/s in total` : 'as fast as they go (saturation)'}, ${options.warmup} s warm-up (not counted) then ${options.rounds} rounds of ${options.duration} s per scenario (${options.rounds * options.duration} s measured each; the rounds interleave the scenarios, forward then backward order, so load from other jobs spreads over all of them), \`GET ${PATH}\`, loopback only

${markdownTable(HEADER, rows(ms))}
${warnings.length === 0 ? '' : `\n**Warnings in this run:**\n\n${warnings.map((w) => `- ${w.replace(/\n/g, ' ')}`).join('\n')}\n`}${notes.length === 0 ? '' : `\n**Noise in this run:**\n\n${notes.map((w) => `- ${w}`).join('\n')}\n`}
## Reading

${reading(ms).join('\n')}

## What each scenario is

1. **direct**: autocannon → upstream. The upstream is a bare \`node:http\` server answering an 81-byte JSON body, in its own process.
2. **tollgate allowed**: autocannon → tollgate → upstream, every request a different one of ${KEY_COUNT} API keys (\`x-api-key\`, looked up by sha256), plan \`${'{'} max: 1000000, per: 1s ${'}'}\` (gcra, one window), so none is refused: the full path of a proxied, limited request (identity, one Lua check in Redis, forward, rate-limit headers, access-log line).
3. **tollgate refused**: one key on a plan of 1 per hour: after the first request every answer is a 429 from tollgate, nothing is forwarded.
4. **reference reply-from** / **reference undici**: minimal Fastify proxies with no limits and no logging (\`bench/reference-reply-from.ts\`, \`bench/reference-undici.ts\`), same header handling, to compare the forwarding layers alone.

tollgate runs compiled (\`npm run build\`, \`node bin/tollgate.js --config …\`) with \`redis:\` set, \`on_redis_error: allow\` and \`log_level: info\`; its stdout (one JSON line per request) goes to a file in a temp dir, not through the bench process. The helpers (upstream, references) run through \`test/helpers/run-ts.js\` (ts-node, transpile-only; same JS once loaded). Every request of every scenario carries an \`x-api-key\` header from the same list, so the request bytes are the same everywhere.

## How to read the columns

- **proxy µs CPU/req**: user + system CPU time of the proxy process (all its threads: JS, GC, libuv) during the measured runs, from fields 14 and 15 of \`/proc/PID/stat\` (clock ticks; \`getconf CLK_TCK\` = ${CLK_TCK} here, so ${(1000 / CLK_TCK).toFixed(0)} ms resolution on seconds of CPU), divided by the responses completed. This is the number to compare: it is much steadier than req/s and latency, but not immune to a busy machine: a process that is often descheduled handles fewer requests per wakeup and runs on colder caches, so it spends more per request. The **per round** column shows how much.
- **per round**: the proxy's µs CPU/req in its best and its worst round: the spread is the noise of this run.
- **redis µs/req**, **upstream µs/req**: the same for redis-server and the upstream process.
- **autocannon µs/req**: CPU of the bench process itself (autocannon and the latency recording), from \`process.cpuUsage()\`.
- **machine busy**, **of it others**: share of both cores in use during the runs (\`/proc/stat\`), and the part of it used by processes that are not the bench's: on a shared machine other jobs' CPU shows up here and makes every number worse, the CPU per request least. The load generator shares the 2 cores with everything it measures: req/s and latencies are those of a saturated 2-core machine, where every µs autocannon spends is a µs the proxy cannot have. Ratios to direct are therefore pessimistic for the proxy and should not be read as "tollgate's throughput"; the CPU per request is the steady figure.
- **p50 / p99**: over every response of the measured run (any status), from autocannon's per-response times at full resolution.

For orientation (from the issue): on this 2-core machine a hand-written Fastify + @fastify/http-proxy + @fastify/rate-limit-on-Redis stack spends about 70 µs of CPU per proxied request (about 0.2× direct throughput), bare \`node:http\` + undici + one ioredis Lua call about 50 µs, of which reply-from adds 15–20 µs over a bare undici Pool; the goal is ≤ 50 µs per proxied, limited request.

## Notes

${keptNotes()}
`
}

// --------------------------------------------------------------------------- main

async function runProfile (tmp: string, configPath: string, upstream: Child, redis: RedisChild, requests: autocannon.Request[], options: Options): Promise<void> {
  const profDir = join(tmp, 'prof')
  mkdirSync(profDir)
  const spawnedAt = performance.now()
  const tollgate = await startTollgate(tmp, configPath, ['--cpu-prof', '--cpu-prof-dir', profDir])
  const scenario: Scenario = {
    id: 'allowed',
    label: 'tollgate allowed (under --cpu-prof)',
    url: `${tollgate.url}${PATH}`,
    requests,
    watched: { proxy: tollgate.child, redis, upstream },
    expect: 200
  }
  await warmUp(scenario, options)
  const round = await runRound(scenario, { ...options, duration: options.rounds * options.duration })
  // A clean exit writes the profile: SIGTERM → close-with-grace → exit.
  tollgate.child.process.kill('SIGTERM')
  await Promise.race([tollgate.child.exited, sleep(15_000)])
  const files = readdirSync(profDir).filter((f) => f.endsWith('.cpuprofile'))
  if (files.length === 0) throw new Error(`tollgate wrote no .cpuprofile in ${profDir} (exit: ${tollgate.child.exitInfo ?? 'still running'})`)
  const profile = join(profDir, files[0])
  log(`profile: ${profile} (${(statSync(profile).size / 1e6).toFixed(1)} MB)`)
  // Only the measured run: not the start (config parsing, module loading), the warm-up or the shutdown.
  // The profile starts when the process does, give or take its bootstrap (tens of ms).
  const window = { fromMs: round.from - spawnedAt + 200, toMs: round.to - spawnedAt - 200 }
  process.stdout.write(`\n${summarizeProfile(readFileSync(profile, 'utf8'), REPO_ROOT, options.top, window)}\n`)
  process.stdout.write('\nA sampling profile counts wall time on the main thread: on a busy machine, time spent runnable but descheduled inside a syscall shows up as that syscall (writev, write*String).\n')
}

async function main (): Promise<void> {
  const options = parseOptions(process.argv.slice(2))
  const startedAt = new Date()
  const loadAtStart = loadavg().map((l) => l.toFixed(2)).join(', ')
  const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`
  const tmp = mkdtempSync(join(tmpdir(), 'tollgate-bench-'))
  removeOnExit(tmp)
  try {
    if (options.build) build()
    if (!existsSync(join(REPO_ROOT, 'dist', 'cli.js'))) throw new Error('dist/cli.js is missing: run `npm run build` (or drop --no-build)')

    log('starting upstream and redis-server')
    const [upstream, redis] = await Promise.all([startHelper('upstream', 'upstream.ts', []), startRedis()])
    log(`upstream ${upstream.url} (pid ${upstream.child.pid}), redis-server 127.0.0.1:${redis.port} (pid ${redis.pid})`)

    const keys = makeKeys()
    const redisUrl = `redis://127.0.0.1:${redis.port}`
    const configPath = join(tmp, 'config.yml')
    writeFileSync(configPath, tollgateConfig(upstream.url, redisUrl, keys))
    const spread: autocannon.Request[] = keys.allowed.map((k) => ({ method: 'GET', path: PATH, headers: { 'x-api-key': k.key } }))
    const single: autocannon.Request[] = [{ method: 'GET', path: PATH, headers: { 'x-api-key': keys.refused.key } }]

    if (options.profile) {
      await runProfile(tmp, configPath, upstream.child, redis, spread, options)
      return
    }

    log('starting tollgate (node bin/tollgate.js) and the reference proxies')
    const [tollgate, replyFrom, undici] = await Promise.all([
      startTollgate(tmp, configPath),
      startHelper('reference-reply-from', 'reference-reply-from.ts', [upstream.url]),
      startHelper('reference-undici', 'reference-undici.ts', [upstream.url])
    ])
    log(`tollgate ${tollgate.url} (pid ${tollgate.child.pid}), reply-from reference ${replyFrom.url} (pid ${replyFrom.child.pid}), undici reference ${undici.url} (pid ${undici.child.pid})`)

    // Functional checks first: a wrong setup must not pass for a fast one.
    const upstreamBody = await (await fetch(`${upstream.url}${PATH}`)).text()
    const sameBody = (_res: Response, body: string): string | undefined => body === upstreamBody ? undefined : `the body differs from the upstream's: ${body.slice(0, 200)}`
    await expectStatus('tollgate, allowed key', `${tollgate.url}${PATH}`, { 'x-api-key': keys.allowed[0].key }, 200, (res, body) =>
      sameBody(res, body) ?? (res.headers.get('ratelimit-policy') === null ? 'no RateLimit-Policy header' : undefined))
    await expectStatus('tollgate, refused key (first request)', `${tollgate.url}${PATH}`, { 'x-api-key': keys.refused.key }, 200)
    await expectStatus('tollgate, refused key (second request)', `${tollgate.url}${PATH}`, { 'x-api-key': keys.refused.key }, 429)
    await expectStatus('reference reply-from', `${replyFrom.url}${PATH}`, {}, 200, sameBody)
    await expectStatus('reference undici', `${undici.url}${PATH}`, {}, 200, sameBody)

    const viaTollgate = { proxy: tollgate.child, redis, upstream: upstream.child }
    const scenarios: Scenario[] = [
      { id: 'direct', label: 'direct to upstream', url: `${upstream.url}${PATH}`, requests: spread, watched: { upstream: upstream.child }, expect: 200 },
      { id: 'allowed', label: `tollgate allowed (${KEY_COUNT} keys)`, url: `${tollgate.url}${PATH}`, requests: spread, watched: viaTollgate, expect: 200 },
      { id: 'refused', label: 'tollgate refused (1 key, 429)', url: `${tollgate.url}${PATH}`, requests: single, watched: viaTollgate, expect: 429 },
      { id: 'reply-from', label: 'reference Fastify + reply-from', url: `${replyFrom.url}${PATH}`, requests: spread, watched: { proxy: replyFrom.child, upstream: upstream.child }, expect: 200 },
      { id: 'undici', label: 'reference Fastify + undici Pool', url: `${undici.url}${PATH}`, requests: spread, watched: { proxy: undici.child, upstream: upstream.child }, expect: 200 }
    ]
    if (options.breakdown) {
      const variant = async (name: string, yaml: string, port = 0): Promise<TollgateChild> => {
        const dir = join(tmp, name)
        mkdirSync(dir)
        writeFileSync(join(dir, 'config.yml'), yaml)
        return await startTollgate(dir, join(dir, 'config.yml'), [], port)
      }
      const quietPort = await freePort()
      const [quiet, memory] = await Promise.all([
        variant('no-log', tollgateConfig(upstream.url, redisUrl, keys, 'warn', quietPort), quietPort),
        variant('memory', tollgateConfig(upstream.url, undefined, keys))
      ])
      await expectStatus('tollgate at log_level warn', `${quiet.url}${PATH}`, { 'x-api-key': keys.allowed[0].key }, 200, sameBody)
      await expectStatus('tollgate on the memory store', `${memory.url}${PATH}`, { 'x-api-key': keys.allowed[0].key }, 200, sameBody)
      scenarios.splice(2, 0,
        { id: 'allowed-no-log', label: 'tollgate allowed, log_level warn', url: `${quiet.url}${PATH}`, requests: spread, watched: { proxy: quiet.child, redis, upstream: upstream.child }, expect: 200 },
        { id: 'allowed-memory', label: 'tollgate allowed, memory store', url: `${memory.url}${PATH}`, requests: spread, watched: { proxy: memory.child, upstream: upstream.child }, expect: 200 })
    }
    const measurements = await measureAll(scenarios, options)
    for (const [i, m] of measurements.entries()) {
      noteNoise(m)
      expectShare(m, scenarios[i].expect)
    }
    const logText = safeRead(tollgate.logFile)
    const errorLines = logText.split('\n').filter((l) => /"level":(50|60)/.test(l))
    if (errorLines.length > 0) warn(`tollgate logged ${errorLines.length} error line(s), e.g. ${errorLines[0].slice(0, 300)}`)
    log(`tollgate access log: ${(logText.length / 1e6).toFixed(1)} MB`)

    const totalSeconds = (Date.now() - startedAt.getTime()) / 1000
    process.stdout.write(`\n${textTable(HEADER, rows(measurements))}\n\n${reading(measurements).join('\n')}\n`)
    if (warnings.length > 0) process.stdout.write(`\n${warnings.length} WARNING(s) above: the bench config or setup is off, read them before the numbers.\n`)
    if (options.write) {
      writeFileSync(RESULTS_FILE, resultsMarkdown(measurements, options, command, startedAt, totalSeconds, loadAtStart))
      log(`wrote ${RESULTS_FILE}`)
    }
    log(`done in ${totalSeconds.toFixed(0)} s`)
  } finally {
    await stopAll()
    rmSync(tmp, { recursive: true, force: true })
  }
}

main().catch(async (error: unknown) => {
  process.stderr.write(`bench: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`)
  await stopAll()
  process.exitCode = 1
})
