import { execFileSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { PERCENTILES, type LoadRequest, type LoadRun, type Loader } from './load'
import { REPO_ROOT, waitForStdout, type Procs } from './procs'

/**
 * Load from wrk, a separate C process, so the load generator's CPU is never counted with
 * what it measures nor taken from inside the bench process. bench/wrk.lua rotates the
 * keys, counts statuses and prints one JSON line at the end.
 */

const SCRIPT = join(REPO_ROOT, 'bench', 'wrk.lua')
const JSON_LINE = /^BENCH-JSON (\{.*\})$/m

/** The wrk binary on the PATH, or undefined. */
export function findWrk (): string | undefined {
  try {
    return execFileSync('sh', ['-c', 'command -v wrk'], { encoding: 'utf8' }).trim() || undefined
  } catch {
    return undefined
  }
}

interface WrkSummary {
  requests: number
  duration_us: number
  statuses: Record<string, number>
  errors: { connect: number, read: number, write: number, timeout: number }
  latency_us: Array<[number, number]>
}

/** Parses the line bench/wrk.lua prints; throws with the output when it is missing. */
export function parseWrkOutput (stdout: string): LoadRun {
  const match = JSON_LINE.exec(stdout)
  if (match?.[1] === undefined) throw new Error(`wrk printed no BENCH-JSON line:\n${stdout.slice(-2000)}`)
  // The shape is bench/wrk.lua's own output, checked by test/bench/wrk.test.ts.
  const summary = JSON.parse(match[1]) as WrkSummary
  const e = summary.errors
  return {
    responses: summary.requests,
    seconds: summary.duration_us / 1e6,
    statuses: new Map(Object.entries(summary.statuses).map(([status, count]) => [Number(status), count])),
    errors: e.connect + e.read + e.write + e.timeout,
    latency: summary.latency_us.map(([p, us]) => [p, us / 1000])
  }
}

/** wrk cannot hold a fixed rate: `rate` is refused here, the fixed-rate rows use autocannon. */
export function wrkLoader (wrk: string, procs: Procs, dir: string): Loader {
  let runs = 0
  return async (request: LoadRequest): Promise<LoadRun> => {
    if (request.rate !== undefined) throw new Error('wrk cannot send a fixed rate; use the autocannon loader for this row')
    const keysFile = join(dir, `wrk-keys-${++runs}.txt`)
    writeFileSync(keysFile, `${request.keys.join('\n')}\n`)
    const url = new URL(request.url)
    const child = procs.start('wrk', wrk, [
      '-t', String(request.threads), '-c', String(request.connections), '-d', `${request.seconds}s`,
      '--timeout', '5s', '-s', SCRIPT, url.origin
    ], {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: {
        ...process.env,
        BENCH_KEYS_FILE: keysFile,
        BENCH_PATH: url.pathname,
        BENCH_KEY_HEADER: request.keyHeader ?? 'x-api-key',
        BENCH_PERCENTILES: PERCENTILES.join(','),
        // One `name<TAB>value` per line: Lua has no JSON parser.
        BENCH_HEADERS: Object.entries(request.headers ?? {}).map(([name, value]) => `${name}\t${value}`).join('\n')
      }
    })
    const match = await waitForStdout(child, JSON_LINE, (request.seconds + 30) * 1000)
    await child.exited
    return parseWrkOutput(match[0])
  }
}
