import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { BenchContext } from './context'
import { rlsCaller } from './grpc-client'
import type { GrpcSummary } from './grpc-loadgen'
import type { LoadRequest, LoadRun, Loader } from './load'
import { fmt } from './report'
import { REPO_ROOT, RUN_TS, waitForStdout, type Procs } from './procs'
import { GRPC_DOMAIN } from './tollgate-config'

/**
 * The gRPC row's loader and check. The load comes from bench/grpc-loadgen.ts in a child
 * process; its answers fill a LoadRun like the HTTP rows', so the tables, the ratios and
 * the plot read it as any other row.
 */

const LOADGEN = join(REPO_ROOT, 'bench', 'grpc-loadgen.ts')
const JSON_LINE = /^BENCH-GRPC (\{.*\})$/m

/**
 * Where an answer goes in LoadRun.statuses: the HTTP status tollgate's own metrics give
 * it (`status_code` of `listener="grpc"`, src/grpc/server.ts), so the 2xx and 429
 * columns mean the same for every row. Any other `overall_code` (UNKNOWN: tollgate never
 * sends it) counts among the errors, with the failed calls.
 */
const AS_HTTP_STATUS: Readonly<Record<string, number>> = { OK: 200, OVER_LIMIT: 429 }

/** The summary line bench/grpc-loadgen.ts prints; throws with the output when it is missing. */
export function readGrpcSummary (stdout: string): GrpcSummary {
  const match = JSON_LINE.exec(stdout)
  if (match?.[1] === undefined) throw new Error(`grpc-loadgen printed no BENCH-GRPC line:\n${stdout.slice(-2000)}`)
  // The shape is bench/grpc-loadgen.ts's own output, checked by test/bench/grpc.test.ts.
  return JSON.parse(match[1]) as GrpcSummary
}

export function grpcLoadRun (summary: GrpcSummary): LoadRun {
  const statuses = new Map<number, number>()
  let responses = 0
  let errors = Object.values(summary.errors).reduce((a, b) => a + b, 0)
  for (const [code, n] of Object.entries(summary.codes)) {
    const httpStatus = AS_HTTP_STATUS[code]
    if (httpStatus === undefined) {
      errors += n
      continue
    }
    statuses.set(httpStatus, (statuses.get(httpStatus) ?? 0) + n)
    responses += n
  }
  return {
    responses,
    seconds: summary.duration_us / 1e6,
    statuses,
    errors,
    // JSON has no NaN: a run with no answer prints null.
    latency: summary.latency_ms.map(([p, ms]) => [p, ms ?? NaN])
  }
}

/** What went wrong in a run, by name (`UNAVAILABLE×3, UNKNOWN×1`), or undefined. */
export function grpcFailures (summary: GrpcSummary): string | undefined {
  const named = [
    ...Object.entries(summary.codes).filter(([code]) => AS_HTTP_STATUS[code] === undefined),
    ...Object.entries(summary.errors)
  ]
  return named.length === 0 ? undefined : named.map(([name, n]) => `${name}×${n}`).join(', ')
}

/**
 * `request.url` is the gRPC address (HOST:PORT), `request.keys` the `api_key` descriptor
 * values, `request.connections` the calls kept in flight; there are no threads, headers
 * nor fixed rate.
 */
export function grpcLoader (procs: Procs, dir: string, report: { log: (message: string) => void, warn: (message: string) => void }): Loader {
  let runs = 0
  return async (request: LoadRequest): Promise<LoadRun> => {
    if (request.rate !== undefined) throw new Error('the gRPC loader cannot send a fixed rate')
    const keysFile = join(dir, `grpc-keys-${++runs}.txt`)
    writeFileSync(keysFile, `${request.keys.join('\n')}\n`)
    const child = procs.start('grpc-loadgen', process.execPath, [
      RUN_TS, LOADGEN, '--address', request.url, '--domain', GRPC_DOMAIN, '--keys-file', keysFile,
      '--seconds', String(request.seconds), '--concurrency', String(request.connections)
    ], { stdio: ['ignore', 'pipe', 'inherit'] })
    // Its start (the transpile, grpc-js, the protos) takes seconds on a busy machine.
    const match = await waitForStdout(child, JSON_LINE, (request.seconds + 60) * 1000)
    await child.exited
    const summary = readGrpcSummary(match[0])
    const failed = grpcFailures(summary)
    if (failed !== undefined) report.warn(`gRPC load: calls without an OK or OVER_LIMIT answer: ${failed}`)
    // The client's own cost: when it nears a core, calls/s measure the client, not tollgate.
    report.log(`gRPC load generator: ${fmt(summary.cpu_us / Math.max(1, summary.calls), 1)} µs of its own CPU per call, ${fmt(summary.cpu_us / Math.max(1, summary.duration_us) * 100, 0)}% of a core`)
    return grpcLoadRun(summary)
  }
}

/**
 * The row's check before the rounds: one call with `key` must answer `OK` from a
 * descriptor that matched the domain's rule. An unmatched descriptor answers OK too,
 * spending nothing (envoyproxy/ratelimit's contract), so OK alone would not show that
 * the row measures a limit check: the status must name the key's policy.
 */
export async function checkGrpc (address: string, key: string): Promise<string | undefined> {
  const caller = rlsCaller(address, GRPC_DOMAIN)
  try {
    await caller.ready(10_000)
    const answer = await caller.ask(key)
    const status = answer.statuses[0]
    if (answer.overall_code !== 'OK') return `expected OK, got ${answer.overall_code}`
    if (status?.current_limit == null) return 'OK, but from no limit: the descriptor matched no rule of the domain'
    return undefined
  } finally {
    caller.close()
  }
}

/** The gRPC row's loader, from the bench's context. */
export function grpcRowLoader (ctx: BenchContext): Loader {
  return grpcLoader(ctx.procs, ctx.tmp, ctx)
}
