import type { Options } from './options'
import type { Procs } from './procs'

/**
 * What every part of one bench run shares, passed along instead of kept in module state:
 * the options, the child processes, a temp dir, and the warnings and noise notes that
 * end up in the report.
 */
export interface BenchContext {
  readonly options: Options
  readonly procs: Procs
  /** Removed when the bench exits. */
  readonly tmp: string
  /** The setup is wrong (a row got the wrong statuses, a check failed): read before the numbers. */
  readonly warnings: string[]
  /** Not an error, but the reader must know (other jobs loaded the machine, a row was skipped). */
  readonly notes: string[]
  log: (message: string) => void
  warn: (message: string) => void
  note: (message: string) => void
}

export function createContext (options: Options, procs: Procs, tmp: string): BenchContext {
  const warnings: string[] = []
  const notes: string[] = []
  return {
    options,
    procs,
    tmp,
    warnings,
    notes,
    log: (message) => process.stdout.write(`bench: ${message}\n`),
    warn: (message) => {
      warnings.push(message)
      process.stdout.write(`WARNING: ${message}\n`)
    },
    note: (message) => {
      notes.push(message)
      process.stdout.write(`NOTE: ${message}\n`)
    }
  }
}
