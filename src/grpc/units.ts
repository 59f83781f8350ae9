import type { Unit } from './proto'

/** Envoy's units; MONTH and YEAR as envoyproxy/ratelimit counts them (30 and 365 days). */
const UNIT_MS: ReadonlyArray<readonly [Unit, number]> = [
  ['SECOND', 1000],
  ['MINUTE', 60_000],
  ['HOUR', 3_600_000],
  ['DAY', 86_400_000],
  ['MONTH', 30 * 86_400_000],
  ['YEAR', 365 * 86_400_000]
]

/**
 * A window as Envoy's `current_limit`, which can only say "N per unit": an exact unit
 * as it is; any other length goes to the nearest unit (on a log scale) with `max`
 * scaled to it and rounded, at least 1: 5 per 10s is 30 per MINUTE, 100 per 90m is 67
 * per HOUR. The status's `name` (the policy, `free-10s`) keeps the exact window.
 */
export function envoyLimit (max: number, perMs: number): { requests_per_unit: number, unit: Unit } {
  let best: readonly [Unit, number] = ['SECOND', 1000]
  let distance = Infinity
  for (const unit of UNIT_MS) {
    const d = Math.abs(Math.log(perMs / unit[1]))
    if (d < distance) {
      best = unit
      distance = d
    }
  }
  const [unit, unitMs] = best
  return { requests_per_unit: Math.max(1, Math.round((max * unitMs) / perMs)), unit }
}

/** An override's unit in ms; undefined for UNKNOWN or a value this build does not know. */
export function unitMs (unit: string | number): number | undefined {
  const found = typeof unit === 'number' ? UNIT_MS[unit - 1] : UNIT_MS.find(([name]) => name === unit)
  return found?.[1]
}

/** `60000` → `1m`, for the policy name of an override window. */
export function unitLabel (ms: number): string {
  for (const [suffix, size] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000]] as const) {
    if (ms % size === 0) return `${ms / size}${suffix}`
  }
  return `${ms / 1000}s`
}
