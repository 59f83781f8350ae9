/**
 * How many cases a property runs: `base` in `npm test`, so that a fuzz file stays
 * within its ~30 s on a shared 2-core machine, and `TOLLGATE_FUZZ_RUNS=N` for a long
 * hunt (N cases of every property). A failure prints fast-check's seed and path:
 * `fc.assert(..., { seed, path })` replays it.
 */
export function fuzzRuns (base: number): number {
  const asked = Number(process.env.TOLLGATE_FUZZ_RUNS)
  return Number.isInteger(asked) && asked > 0 ? asked : base
}

/** Longest a single case may take before it counts as a hang, in ms; a busy 2-core machine included. */
export const CASE_MS = 2000
