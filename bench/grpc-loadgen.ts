import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { CallError, rlsCaller } from './grpc-client'
import { PERCENTILES, percentileOf } from './load'

/**
 * The gRPC row's load generator, in a process of its own (as wrk is for the HTTP rows),
 * so its CPU is never counted with tollgate's nor taken from inside the bench process.
 * Keeps `--concurrency` ShouldRateLimit calls in flight on one channel for `--seconds`,
 * each with one `api_key` descriptor, rotating over the keys of `--keys-file` (one a
 * line), then prints one line: `BENCH-GRPC {json}` (parsed by bench/grpc.ts).
 *
 *   node test/helpers/run-ts.js bench/grpc-loadgen.ts --address HOST:PORT --domain D --keys-file F --seconds S --concurrency N
 */

const CONNECT_TIMEOUT_MS = 10_000

export interface GrpcSummary {
  /** Calls answered, whatever the code. */
  calls: number
  duration_us: number
  /** This process's CPU (user + system) over the run: what the client spent, next to tollgate's. */
  cpu_us: number
  /** Answers by `overall_code`. */
  codes: Record<string, number>
  /** Failed calls by gRPC status name (UNAVAILABLE, DEADLINE_EXCEEDED, …): no answer. */
  errors: Record<string, number>
  /** `[percentile, ms]` over the answered calls, one per PERCENTILES entry; null (JSON's NaN) when none was. */
  latency_ms: Array<[number, number | null]>
}

function count (record: Record<string, number>, name: string): void {
  record[name] = (record[name] ?? 0) + 1
}

async function main (): Promise<void> {
  const { values } = parseArgs({
    options: {
      address: { type: 'string' },
      domain: { type: 'string' },
      'keys-file': { type: 'string' },
      seconds: { type: 'string' },
      concurrency: { type: 'string' }
    },
    strict: true
  })
  const seconds = Number(values.seconds)
  const concurrency = Number(values.concurrency)
  if (values.address === undefined || values.domain === undefined || values['keys-file'] === undefined || !(seconds > 0) || !Number.isInteger(concurrency) || concurrency < 1) {
    throw new Error('needs --address HOST:PORT --domain D --keys-file F --seconds S (> 0) --concurrency N (≥ 1)')
  }
  const keys = readFileSync(values['keys-file'], 'utf8').split('\n').filter((k) => k !== '')
  if (keys.length === 0) throw new Error(`${values['keys-file']}: no keys`)

  const caller = rlsCaller(values.address, values.domain)
  await caller.ready(CONNECT_TIMEOUT_MS)
  const summary: GrpcSummary = { calls: 0, duration_us: 0, cpu_us: 0, codes: {}, errors: {}, latency_ms: [] }
  let latencies = new Float64Array(1 << 16)
  let sent = 0
  const started = performance.now()
  const cpuBefore = process.cpuUsage()
  const deadline = started + seconds * 1000
  const worker = async (): Promise<void> => {
    while (performance.now() < deadline) {
      const key = keys[sent++ % keys.length] ?? ''
      const at = performance.now()
      try {
        const answer = await caller.ask(key)
        if (summary.calls === latencies.length) {
          const bigger = new Float64Array(latencies.length * 2)
          bigger.set(latencies)
          latencies = bigger
        }
        latencies[summary.calls++] = performance.now() - at
        count(summary.codes, answer.overall_code)
      } catch (error) {
        // Anything but a CallError is a bug here, named by its text.
        count(summary.errors, error instanceof CallError ? error.code : String(error))
      }
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
  summary.duration_us = Math.round((performance.now() - started) * 1000)
  const cpu = process.cpuUsage(cpuBefore)
  summary.cpu_us = cpu.user + cpu.system
  caller.close()
  const sorted = latencies.slice(0, summary.calls).sort()
  summary.latency_ms = PERCENTILES.map((p) => [p, percentileOf(sorted, p)])
  process.stdout.write(`BENCH-GRPC ${JSON.stringify(summary)}\n`)
}

main().catch((error: unknown) => {
  process.stderr.write(`grpc-loadgen: ${error instanceof Error ? error.message : String(error)}\n`)
  process.exitCode = 1
})
