import type { WindowResult, WindowSpec } from './types'

/**
 * The embedded store's three algorithms, one window at a time: the same units and
 * rounding as the Redis script (store-redis.lua.ts explains them), so the memory store
 * decides exactly as Redis would. Pure functions of a window's state and the time.
 */

/** Amounts are integer micro-units, as in the script: exact comparisons with `max`. */
export const UNIT = 1_000_000

export type State =
  | { readonly tag: 'g'; readonly used: number; readonly at: number }
  | { readonly tag: 'f'; readonly start: number; readonly count: number }
  | { readonly tag: 's'; readonly start: number; readonly count: number; readonly prev: number }

interface Evaluation {
  readonly fits: boolean
  readonly next: State
  readonly ttlMs: number
  readonly spent: Omit<WindowResult, 'allowed'>
  readonly kept: Omit<WindowResult, 'allowed'>
}

/** One window against its stored state (undefined: none, or another algorithm's) at `now` µs, for `cost` micro-units. */
export function evaluate (state: State | undefined, w: WindowSpec, now: number, cost: number): Evaluation {
  const max = w.max * UNIT
  const per = w.perMs * 1000
  switch (w.algorithm) {
    case 'gcra':
      return gcra(state?.tag === 'g' ? state : undefined, max, per, now, cost)
    case 'fixed':
      return fixed(state?.tag === 'f' ? state : undefined, max, per, now, cost)
    case 'sliding':
      return sliding(state?.tag === 's' ? state : undefined, max, per, now, cost)
  }
}

type Gcra = Extract<State, { tag: 'g' }>
type Fixed = Extract<State, { tag: 'f' }>
type Sliding = Extract<State, { tag: 's' }>

function gcra (state: Gcra | undefined, max: number, per: number, now: number, cost: number): Evaluation {
  let used = 0
  let at = now
  if (state !== undefined) {
    used = state.used
    at = state.at
    // A clock stepping back leaves `at` in place, so no interval drains twice.
    if (now > at) {
      used = Math.max(0, used - Math.round(((now - at) * max) / per))
      at = now
    }
  }
  const fits = used + cost <= max
  const after = used + cost
  const full = toMs((after * per) / max)
  let wait: number
  if (fits) wait = toMs((used * per) / max)
  else if (cost > max) wait = toMs(per)
  else wait = toMs(((used + cost - max) * per) / max)
  return {
    fits,
    next: { tag: 'g', used: after, at },
    ttlMs: Math.max(1, full),
    spent: { remaining: left(max, after), resetMs: full },
    kept: { remaining: left(max, used), resetMs: wait }
  }
}

function fixed (state: Fixed | undefined, max: number, per: number, now: number, cost: number): Evaluation {
  const start = now - (now % per)
  const count = state !== undefined && state.start === start ? state.count : 0
  const rest = toMs(start + per - now)
  return {
    fits: count + cost <= max,
    next: { tag: 'f', start, count: count + cost },
    ttlMs: Math.max(1, rest),
    spent: { remaining: left(max, count + cost), resetMs: rest },
    kept: { remaining: left(max, count), resetMs: rest }
  }
}

function sliding (state: Sliding | undefined, max: number, per: number, now: number, cost: number): Evaluation {
  const start = now - (now % per)
  let count = 0
  let prev = 0
  if (state?.start === start) {
    count = state.count
    prev = state.prev
  } else if (state?.start === start - per) {
    prev = state.count
  }
  const rest = start + per - now
  const estimate = count + Math.round((prev * rest) / per)
  const fits = estimate + cost <= max
  let wait: number
  if (fits) wait = rest
  else if (cost > max) wait = per
  // prev's share decays to max - cost - count before this window ends
  else if (count + cost <= max) wait = rest - ((max - cost - count) * per) / prev
  // only in the next window, where count becomes the decaying previous window
  else wait = rest + Math.max(0, per - ((max - cost) * per) / count)
  return {
    fits,
    next: { tag: 's', start, count: count + cost, prev },
    ttlMs: toMs(rest + per),
    spent: { remaining: left(max, estimate + cost), resetMs: toMs(rest) },
    kept: { remaining: left(max, estimate), resetMs: toMs(wait) }
  }
}

/** Microseconds to whole milliseconds, rounded up; never negative. */
function toMs (us: number): number {
  return us <= 0 ? 0 : Math.ceil(us / 1000)
}

function left (max: number, used: number): number {
  return Math.max(0, Math.floor((max - used) / UNIT))
}
