/**
 * The largest numbers the code that consumes the config can honour: the schema takes
 * its bounds from here, and the stores check the same constant.
 */

/**
 * A window's `max` and a request's cost, in units. The stores count in micro-units
 * (1 unit = 1e6) and a double holds integers exactly up to 2^53, about 9e9 units.
 */
export const MAX_AMOUNT = 1e9

/** `30s` → 30000. Only called on values the schema already accepted. */
export function durationMs (value: string): number {
  const match = /^([0-9]+)(ms|s|m|h|d)$/.exec(value)
  if (match === null) throw new Error(`"${value}" is not a duration`)
  return Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS]
}

const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const

/**
 * Node's timers hold at most 2^31-1 ms (24.8 days); a longer delay fires after 1 ms and
 * prints a TimeoutOverflowWarning outside the JSON log. Every duration a timer waits
 * (timeouts, the health interval, drain_delay + grace together) stays below it.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1
