import { assertGroupsRequest, assertLimitRequest } from './store-contract'
import type { GroupsRequest, GroupsResult, LimitRequest, LimitResult, LimitStore, WindowResult, WindowSpec } from './types'

/**
 * The embedded store: the same algorithms, units and rounding as the Redis script
 * (store-redis.lua.ts explains them), so one replica without Redis, or a replica falling
 * back locally, decides exactly as Redis would. Correct for one process only.
 */

/** Amounts are integer micro-units, as in the script: exact comparisons with `max`. */
const UNIT = 1_000_000
/** Roughly 100 000 client windows in a few tens of MB. */
const DEFAULT_MAX_ENTRIES = 100_000
const DEFAULT_SWEEP_INTERVAL_MS = 60_000

export interface MemoryStoreOptions {
  /** Entries kept at most; when full, the least recently written goes. Default 100 000. */
  readonly maxEntries?: number
  /** How often expired entries are dropped in the background. Default 60 s. */
  readonly sweepIntervalMs?: number
  /** Milliseconds since the Unix epoch. Default `Date.now`; tests inject a fake clock. */
  readonly now?: () => number
}

type State =
  | { readonly tag: 'g'; readonly used: number; readonly at: number }
  | { readonly tag: 'f'; readonly start: number; readonly count: number }
  | { readonly tag: 's'; readonly start: number; readonly count: number; readonly prev: number }

interface Entry {
  readonly state: State
  readonly expiresAt: number
}

interface Evaluation {
  readonly fits: boolean
  readonly next: State
  readonly ttlMs: number
  readonly spent: Omit<WindowResult, 'allowed'>
  readonly kept: Omit<WindowResult, 'allowed'>
}

export class MemoryLimitStore implements LimitStore {
  private readonly entries = new Map<string, Entry>()
  private readonly maxEntries: number
  private readonly now: () => number
  private readonly timer: NodeJS.Timeout

  constructor (options: MemoryStoreOptions = {}) {
    this.maxEntries = options.maxEntries ?? DEFAULT_MAX_ENTRIES
    this.now = options.now ?? Date.now
    if (!Number.isSafeInteger(this.maxEntries) || this.maxEntries < 1) {
      throw new TypeError(`maxEntries must be a positive integer, got ${options.maxEntries}`)
    }
    this.timer = setInterval(() => this.sweep(), options.sweepIntervalMs ?? DEFAULT_SWEEP_INTERVAL_MS)
    this.timer.unref()
  }

  /** Entries held, expired ones included until they are touched or swept. */
  get size (): number {
    return this.entries.size
  }

  /** Synchronous inside, so atomic: no other check runs between evaluation and spend. */
  async check (request: LimitRequest): Promise<LimitResult> {
    assertLimitRequest(request)
    const nowMs = this.now()
    const nowUs = Math.round(nowMs * 1000)
    const cost = request.cost * UNIT
    const evaluations = request.windows.map((w) => {
      const key = entryKey(request.subject, w.scope)
      return { key, ...evaluate(this.read(key, nowMs), w, nowUs, cost) }
    })
    const allowed = evaluations.every((e) => e.fits)
    if (allowed && cost > 0 && request.dryRun !== true) {
      for (const e of evaluations) this.write(e.key, e.next, nowMs + e.ttlMs)
    }
    const windows = evaluations.map((e): WindowResult => {
      if (allowed) return { allowed: true, ...e.spent }
      if (e.fits) return { allowed: true, ...e.kept }
      return { allowed: false, remaining: e.kept.remaining, resetMs: Math.max(1, e.kept.resetMs) }
    })
    return { allowed, windows }
  }

  /**
   * Every window of every group is evaluated before anything is written, as in `check`.
   * The keys live apart from `check`'s (see `groupEntryKey`), as in Redis.
   */
  async checkGroups (request: GroupsRequest): Promise<GroupsResult> {
    assertGroupsRequest(request)
    const nowMs = this.now()
    const nowUs = Math.round(nowMs * 1000)
    const cost = request.cost * UNIT
    const groups = request.groups.map((g) => ({
      advisory: g.advisory === true,
      evaluations: g.windows.map((w) => {
        const key = groupEntryKey(request.tag, g.subject, w.scope)
        return { key, ...evaluate(this.read(key, nowMs), w, nowUs, cost) }
      }),
    }))
    const allowed = groups.every((g) => g.advisory || g.evaluations.every((e) => e.fits))
    if (allowed && cost > 0) {
      for (const e of groups.flatMap((g) => g.evaluations)) {
        // An advisory window that does not fit keeps its state, as a refused check would.
        if (e.fits) this.write(e.key, e.next, nowMs + e.ttlMs)
      }
    }
    return {
      allowed,
      groups: groups.map((g) => ({
        allowed: g.evaluations.every((e) => e.fits),
        windows: g.evaluations.map((e): WindowResult => {
          if (allowed && e.fits) return { allowed: true, ...e.spent }
          if (e.fits) return { allowed: true, ...e.kept }
          return { allowed: false, remaining: e.kept.remaining, resetMs: Math.max(1, e.kept.resetMs) }
        }),
      })),
    }
  }

  /** Drops every expired entry; runs on the background timer. */
  sweep (): void {
    const nowMs = this.now()
    for (const [key, entry] of this.entries) {
      if (entry.expiresAt <= nowMs) this.entries.delete(key)
    }
  }

  /** Stops the background sweep. The store still answers, so in-flight checks finish. */
  async close (): Promise<void> {
    clearInterval(this.timer)
  }

  private read (key: string, nowMs: number): State | undefined {
    const entry = this.entries.get(key)
    if (entry === undefined) return undefined
    if (entry.expiresAt > nowMs) return entry.state
    this.entries.delete(key)
    return undefined
  }

  private write (key: string, state: State, expiresAt: number): void {
    // Re-inserting moves the key to the end of the Map's order, so eviction takes the
    // entry written longest ago: an idle client, not a busy one.
    this.entries.delete(key)
    if (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next()
      if (oldest.done !== true) this.entries.delete(oldest.value)
    }
    this.entries.set(key, { state, expiresAt })
  }
}

/** Length-prefixed, so no subject/scope pair can spell another pair's key. */
function entryKey (subject: string, scope: string): string {
  return `${subject.length}:${subject}:${scope}`
}

/**
 * A group's key: tagged, and starting with `g` where `entryKey` starts with a digit, so
 * it never meets a key of `check`.
 */
function groupEntryKey (tag: string, subject: string, scope: string): string {
  return `g${tag.length}:${tag}:${subject.length}:${subject}:${scope}`
}

function evaluate (state: State | undefined, w: WindowSpec, now: number, cost: number): Evaluation {
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
    kept: { remaining: left(max, used), resetMs: wait },
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
    kept: { remaining: left(max, count), resetMs: rest },
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
    kept: { remaining: left(max, estimate), resetMs: toMs(wait) },
  }
}

/** Microseconds to whole milliseconds, rounded up; never negative. */
function toMs (us: number): number {
  return us <= 0 ? 0 : Math.ceil(us / 1000)
}

function left (max: number, used: number): number {
  return Math.max(0, Math.floor((max - used) / UNIT))
}
