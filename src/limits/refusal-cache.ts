import type { Decision } from './limiter'
import type { PlanLimits } from './policy'

/**
 * Refusals answered from memory until the store would allow again: a client over its
 * limit costs no Redis round trip while it keeps knocking.
 *
 * It can only refuse, never admit, and it refuses no longer than the store would:
 * - A refusal's reset (store-redis.lua.ts) is the wait until the refusing windows allow
 *   that cost again. Counts only fall with time, and spending only raises them, so until
 *   then the store refuses the same cost for the same windows.
 * - The wait is counted from when the check was sent, not when its answer came: the
 *   store measured it later than that (Redis `TIME`), so the entry ends no later than
 *   the store's own window.
 * - Entries are per `PlanLimits` object and per limiter: a reload builds both anew, so a
 *   raised `max` is asked of the store at once.
 * What it can forget is what Redis forgets: a failover that loses the counts leaves the
 * client refused here until its window ends, never longer than one reset.
 */

interface Entry {
  /** The windows it was refused under: another route's, or a reloaded plan's, are asked of the store. */
  readonly limits: PlanLimits
  /** `performance.now()` when the refused check was sent, and when the store may allow again. */
  readonly sentAt: number
  readonly until: number
  /**
   * The cost refused. Only that cost is answered from here: a smaller one may fit, and a
   * larger one may be refused by another window, with a longer wait to tell.
   */
  readonly cost: number
  readonly decision: Decision
}

/** Bounded whatever the traffic: past it, expired entries are swept, and a full cache caches nothing more. */
const MAX_ENTRIES = 100_000

export class RefusalCache {
  /** By subject: one entry each, for the windows it was last refused under. */
  readonly #entries = new Map<string, Entry>()

  /** The refusal still in force for this subject, windows and cost, its waits counted down to now. */
  get (limits: PlanLimits, subject: string, cost: number, now: number): Decision | undefined {
    const entry = this.#entries.get(subject)
    if (entry === undefined) return undefined
    if (entry.until <= now) {
      this.#entries.delete(subject)
      return undefined
    }
    if (entry.limits !== limits || cost !== entry.cost) return undefined
    return counted(entry, now)
  }

  /** Remembers a refusal by the store, of a check sent at `sentAt`. */
  remember (limits: PlanLimits, subject: string, cost: number, decision: Decision, sentAt: number): void {
    const waitMs = longestWait(decision)
    if (waitMs <= 0) return
    if (this.#entries.size >= MAX_ENTRIES && !this.#entries.has(subject) && this.#sweep(sentAt) >= MAX_ENTRIES) return
    this.#entries.set(subject, { limits, sentAt, until: sentAt + waitMs, cost, decision })
  }

  /** Drops expired entries; returns how many are left. */
  #sweep (now: number): number {
    for (const [subject, entry] of this.#entries) {
      if (entry.until <= now) this.#entries.delete(subject)
    }
    return this.#entries.size
  }
}

/** The wait the binding window names: the longest of the refusing windows. */
function longestWait (decision: Decision): number {
  let wait = 0
  for (const w of decision.windows ?? []) {
    if (!w.allowed && w.resetMs > wait) wait = w.resetMs
  }
  return wait
}

/** The remembered refusal as the store would tell it now: the same counts, less to wait. */
function counted (entry: Entry, now: number): Decision {
  const { decision } = entry
  const { binding, windows } = decision
  const elapsed = now - entry.sentAt
  return {
    ...decision,
    binding: binding === undefined ? undefined : { ...binding, resetSeconds: Math.max(1, Math.ceil((entry.until - now) / 1000)) },
    windows: windows?.map((w) => ({ ...w, resetMs: Math.max(1, Math.ceil(w.resetMs - elapsed)) }))
  }
}
