import { parseArgs } from 'node:util'
import { ROWS } from './rows'

/** What `npm run bench -- …` was asked to do. */
export interface Options {
  /** Measured rounds; each round runs every row once, the order alternating. */
  rounds: number
  /** Seconds per row per round. */
  duration: number
  /** Seconds of unmeasured load per row before the first round. */
  warmup: number
  connections: number
  /** wrk threads: 1 leaves the other core to what is measured. */
  threads: number
  /** Requests per second of the fixed-rate rows. */
  rate: number
  /** Only these row ids (and the optional rows named); undefined: every default row. */
  rows: string[] | undefined
  /** `autocannon`: drive the saturating rows with autocannon even when wrk is installed. */
  loader: 'wrk' | 'autocannon'
  build: boolean
  write: boolean
  /** Instead of the rows: profile tollgate under `--cpu-prof` and print a summary. */
  profile: boolean
  /** Instead of the rows: RSS with 100,000 distinct keys over `duration` seconds. */
  memory: boolean
  /** How many functions the profile summary lists. */
  top: number
}

export const USAGE = `npm run bench -- [options]
  --rounds N        measured rounds, the row order alternating (3)
  --duration S      seconds per row per round (10)
  --warmup S        seconds of unmeasured load per row before round 1 (3)
  --connections N   concurrent connections; the gRPC row's calls in flight (50)
  --threads N       wrk threads (1)
  --rate R          requests/s of the fixed-rate rows (5000)
  --rows A,B        only these rows; optional (*) rows run only when named:
                    ${ROWS.map((row) => `${row.id}${row.optional === true ? '*' : ''}`).join(', ')}
  --loader L        wrk (default when installed) or autocannon
  --no-build        measure dist/ as it is
  --no-write        do not rewrite bench/RESULTS.md and bench/latency.svg
  --profile         profile tollgate under --cpu-prof instead: the allowed row,
                    or the refused one with --rows refused
  --memory          instead: RSS of tollgate (Redis and embedded) with 100,000
                    distinct keys over --duration seconds (600 for 10 minutes)
  --top N           functions in the profile summary (30)`

/** A bad command line: the bench prints its message and the usage, no stack. */
export class OptionsError extends Error {}

function positive (name: string, text: string | undefined, fallback: number, max: number): number {
  if (text === undefined) return fallback
  const value = Number(text)
  if (!Number.isInteger(value) || value < 1 || value > max) throw new OptionsError(`--${name} needs a whole number from 1 to ${max}, got "${text}"`)
  return value
}

const FLAGS = {
  rounds: { type: 'string' },
  duration: { type: 'string' },
  warmup: { type: 'string' },
  connections: { type: 'string' },
  threads: { type: 'string' },
  rate: { type: 'string' },
  rows: { type: 'string' },
  loader: { type: 'string' },
  'no-build': { type: 'boolean', default: false },
  'no-write': { type: 'boolean', default: false },
  profile: { type: 'boolean', default: false },
  memory: { type: 'boolean', default: false },
  top: { type: 'string' }
} as const

function parse (argv: readonly string[]): ReturnType<typeof parseArgs<{ args: string[], strict: true, allowPositionals: false, options: typeof FLAGS }>> {
  try {
    return parseArgs({ args: [...argv], strict: true, allowPositionals: false, options: FLAGS })
  } catch (error) {
    // parseArgs throws with a clear message for an unknown or malformed flag.
    throw new OptionsError(error instanceof Error ? error.message : String(error))
  }
}

export function parseOptions (argv: readonly string[]): Options {
  const { values } = parse(argv)
  const loader = values.loader ?? 'wrk'
  if (loader !== 'wrk' && loader !== 'autocannon') throw new OptionsError(`--loader is wrk or autocannon, got "${loader}"`)
  const rows = values.rows?.split(',').map((id) => id.trim()).filter((id) => id !== '')
  const unknown = rows?.filter((id) => !ROWS.some((row) => row.id === id)) ?? []
  if (unknown.length > 0) throw new OptionsError(`unknown row(s) ${unknown.join(', ')}; the rows are ${ROWS.map((row) => row.id).join(', ')}`)
  return {
    rounds: positive('rounds', values.rounds, 3, 100),
    duration: positive('duration', values.duration, 10, 3600),
    warmup: values.warmup === '0' ? 0 : positive('warmup', values.warmup, 3, 600),
    connections: positive('connections', values.connections, 50, 10_000),
    threads: positive('threads', values.threads, 1, 64),
    rate: positive('rate', values.rate, 5000, 1_000_000),
    rows: rows === undefined || rows.length === 0 ? undefined : rows,
    loader,
    build: !values['no-build'],
    write: !values['no-write'],
    profile: values.profile,
    memory: values.memory,
    top: positive('top', values.top, 30, 1000)
  }
}
