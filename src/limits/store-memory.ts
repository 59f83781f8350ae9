import { assertGroupsRequest, assertLimitRequest } from './store-contract'
import { evaluate, UNIT, type State } from './memory-algorithms'
import type { GroupsRequest, GroupsResult, LimitRequest, LimitResult, LimitStore, WindowResult } from './types'

/**
 * The embedded store: the same algorithms, units and rounding as the Redis script
 * (store-redis.lua.ts explains them), so one replica without Redis, or a replica falling
 * back locally, decides exactly as Redis would. Correct for one process only.
 */

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

interface Entry {
  readonly state: State
  readonly expiresAt: number
}

export class MemoryLimitStore implements LimitStore {
  readonly #entries = new Map<string, Entry>()
  readonly #maxEntries: number
  readonly #now: () => number
  readonly #timer: NodeJS.Timeout

  constructor (options: MemoryStoreOptions = {}) {
    this.#maxEntries = options.maxEntries ?? DEFAULT_MAX_ENTRIES
    this.#now = options.now ?? Date.now
    if (!Number.isSafeInteger(this.#maxEntries) || this.#maxEntries < 1) {
      throw new TypeError(`maxEntries must be a positive integer, got ${options.maxEntries}`)
    }
    this.#timer = setInterval(() => this.sweep(), options.sweepIntervalMs ?? DEFAULT_SWEEP_INTERVAL_MS)
    this.#timer.unref()
  }

  /** Entries held, expired ones included until they are touched or swept. */
  get size (): number {
    return this.#entries.size
  }

  /** Synchronous inside, so atomic: no other check runs between evaluation and spend. */
  async check (request: LimitRequest): Promise<LimitResult> {
    assertLimitRequest(request)
    const nowMs = this.#now()
    const nowUs = Math.round(nowMs * 1000)
    const cost = request.cost * UNIT
    const evaluations = request.windows.map((w) => {
      const key = entryKey(request.subject, w.scope)
      return { key, ...evaluate(this.#read(key, nowMs), w, nowUs, cost) }
    })
    const allowed = evaluations.every((e) => e.fits)
    if (allowed && cost > 0 && request.dryRun !== true) {
      for (const e of evaluations) this.#write(e.key, e.next, nowMs + e.ttlMs)
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
    const nowMs = this.#now()
    const nowUs = Math.round(nowMs * 1000)
    const cost = request.cost * UNIT
    const groups = request.groups.map((g) => ({
      advisory: g.advisory === true,
      evaluations: g.windows.map((w) => {
        const key = groupEntryKey(request.tag, g.subject, w.scope)
        return { key, ...evaluate(this.#read(key, nowMs), w, nowUs, cost) }
      })
    }))
    const allowed = groups.every((g) => g.advisory || g.evaluations.every((e) => e.fits))
    if (allowed && cost > 0) {
      for (const e of groups.flatMap((g) => g.evaluations)) {
        // An advisory window that does not fit keeps its state, as a refused check would.
        if (e.fits) this.#write(e.key, e.next, nowMs + e.ttlMs)
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
        })
      }))
    }
  }

  /** Drops every expired entry; runs on the background timer. */
  sweep (): void {
    const nowMs = this.#now()
    for (const [key, entry] of this.#entries) {
      if (entry.expiresAt <= nowMs) this.#entries.delete(key)
    }
  }

  /** Stops the background sweep. The store still answers, so in-flight checks finish. */
  async close (): Promise<void> {
    clearInterval(this.#timer)
  }

  #read (key: string, nowMs: number): State | undefined {
    const entry = this.#entries.get(key)
    if (entry === undefined) return undefined
    if (entry.expiresAt > nowMs) return entry.state
    this.#entries.delete(key)
    return undefined
  }

  #write (key: string, state: State, expiresAt: number): void {
    // Re-inserting moves the key to the end of the Map's order, so eviction takes the
    // entry written longest ago: an idle client, not a busy one.
    this.#entries.delete(key)
    if (this.#entries.size >= this.#maxEntries) {
      const oldest = this.#entries.keys().next()
      if (oldest.done !== true) this.#entries.delete(oldest.value)
    }
    this.#entries.set(key, { state, expiresAt })
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
