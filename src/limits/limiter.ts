import { TollgateError } from '../errors'
import type { PlanLimits } from './policy'
import type { LimitResult, LimitStore } from './types'

/** The `decision` label of `tollgate_ratelimit_decisions_total`, minus `unauthenticated`. */
export type Outcome = 'allowed' | 'limited' | 'would_limit' | 'degraded'

/** The window that decides what the client is told: the one with the least left. */
export interface Binding {
  readonly policy: string
  readonly max: number
  readonly remaining: number
  /** Whole seconds until it allows again (refused) or is back to full (allowed). */
  readonly resetSeconds: number
}

/** One request's verdict, computed once and turned into a response by the proxy or the decision API. */
export interface Decision {
  readonly outcome: Outcome
  /** Whether the request goes on; false only for `limited`. */
  readonly proceed: boolean
  readonly policyHeader: string
  /** Absent when no store could answer (`degraded` under `on_redis_error: allow`). */
  readonly binding?: Binding
}

export type RedisErrorMode = 'allow' | 'deny' | 'local'

export interface LimiterOptions {
  readonly store: LimitStore
  readonly onStoreError: RedisErrorMode
  /** Per-replica store used under `on_redis_error: local` while the shared one fails. */
  readonly fallback?: LimitStore
  /** Count and report, never refuse. */
  readonly shadow: boolean
  /** Told about every store failure, e.g. to count it. */
  readonly onStoreFailure?: (error: unknown) => void
}

function bindingOf (limits: PlanLimits, result: LimitResult): Binding {
  let best = -1
  for (let i = 0; i < result.windows.length; i++) {
    const w = result.windows[i]
    if (result.allowed || !w.allowed) {
      const current = best === -1 ? undefined : result.windows[best]
      // Refused: the window that keeps the client out longest. Allowed: the least left.
      const better = current === undefined ||
        (result.allowed
          ? w.remaining < current.remaining || (w.remaining === current.remaining && w.resetMs > current.resetMs)
          : w.resetMs > current.resetMs)
      if (better) best = i
    }
  }
  const window = limits.windows[best]
  const chosen = result.windows[best]
  return {
    policy: window.policy,
    max: window.max,
    remaining: chosen.remaining,
    // A refusal always says to wait at least a second: `Retry-After: 0` invites a hot loop.
    resetSeconds: result.allowed ? Math.ceil(chosen.resetMs / 1000) : Math.max(1, Math.ceil(chosen.resetMs / 1000))
  }
}

export class Limiter {
  readonly #options: LimiterOptions

  constructor (options: LimiterOptions) {
    this.#options = options
  }

  get store (): LimitStore {
    return this.#options.store
  }

  async decide (subject: string, limits: PlanLimits, cost: number): Promise<Decision> {
    const request = { subject, windows: limits.windows, cost }
    let result: LimitResult
    try {
      result = await this.#options.store.check(request)
    } catch (error) {
      this.#options.onStoreFailure?.(error)
      return await this.#degraded(request, limits)
    }
    return this.#verdict(limits, result, result.allowed ? 'allowed' : 'limited')
  }

  #verdict (limits: PlanLimits, result: LimitResult, outcome: Outcome): Decision {
    const binding = bindingOf(limits, result)
    if (outcome === 'limited' && this.#options.shadow) {
      return { outcome: 'would_limit', proceed: true, policyHeader: limits.policyHeader, binding }
    }
    return { outcome, proceed: outcome !== 'limited', policyHeader: limits.policyHeader, binding }
  }

  async #degraded (request: Parameters<LimitStore['check']>[0], limits: PlanLimits): Promise<Decision> {
    const { onStoreError, fallback, shadow } = this.#options
    if (onStoreError === 'deny') {
      if (shadow) return { outcome: 'degraded', proceed: true, policyHeader: limits.policyHeader }
      throw new TollgateError('limiter_unavailable')
    }
    if (onStoreError === 'local' && fallback !== undefined) {
      const result = await fallback.check(request)
      const decision = this.#verdict(limits, result, 'degraded')
      return { ...decision, proceed: result.allowed || shadow }
    }
    return { outcome: 'degraded', proceed: true, policyHeader: limits.policyHeader }
  }
}
