import type { RedisErrorMode } from '../config'
import type { ErrorCode } from '../errors'
import type { PlanLimits } from './policy'
import { RefusalCache } from './refusal-cache'
import { classifyStoreError, type StoreEvents } from './stores'
import type { GroupsRequest, GroupsResult, LimitResult, LimitStore, WindowResult, WindowSpec } from './types'

/** The `decision` label of `tollgate_ratelimit_decisions_total`, minus `unauthenticated`. */
export const OUTCOMES = ['allowed', 'limited', 'would_limit', 'degraded', 'overloaded'] as const
export type Outcome = typeof OUTCOMES[number]

/** A shed request is told to come back in a second: the burst that shed it is over by then or still shedding. */
export const OVERLOADED_RETRY_SECONDS = 1

/** The window that decides what the client is told: the one with the least left. */
export interface Binding {
  readonly policy: string
  readonly max: number
  readonly remaining: number
  /** Whole seconds until it allows again (refused) or is back to full (allowed). */
  readonly resetSeconds: number
}

/** The error codes (errors.ts) a decision refuses with. */
export type Refusal = Extract<ErrorCode, 'rate_limited' | 'limiter_unavailable' | 'overloaded' | 'internal_error'>

/** One request's verdict, computed once and turned into a response by the proxy or the decision API. */
export interface Decision {
  readonly outcome: Outcome
  /** Why the request stops here; undefined when it goes on. */
  readonly refusal?: Refusal
  readonly policyHeader: string
  /** Absent when no store could answer (`degraded` under `on_redis_error: allow`), or there is no window. */
  readonly binding?: Binding
  /** Every window's answer, in the order of the limits' windows; with `binding`. */
  readonly windows?: readonly WindowResult[]
}

interface LimiterOptions {
  readonly store: LimitStore
  readonly onStoreError: RedisErrorMode
  /** Per-replica store used under `on_redis_error: local` while the shared one fails. */
  readonly fallback?: LimitStore
  /** Count and report, never refuse. */
  readonly shadow: boolean
  /** Checks waiting on the store at once; past it requests are shed (`overloaded`). */
  readonly maxChecksInFlight: number
  /** Told about every check and every store failure, e.g. to count them. */
  readonly events?: StoreEvents
}

/**
 * Undefined when there is no window: a request with none is allowed by every store and
 * has nothing to bind it, so it is answered like a degraded one, with the policy alone.
 * No config makes such a plan (a plan needs a window); a caller of the limiter might.
 */
function bindingOf (limits: PlanLimits, result: LimitResult): Binding | undefined {
  if (result.windows.length !== limits.windows.length) {
    throw new Error(`the store answered ${result.windows.length} windows for ${limits.windows.length}`)
  }
  let best: { readonly spec: WindowSpec, readonly answer: WindowResult } | undefined
  limits.windows.forEach((spec, i) => {
    const answer = result.windows[i]
    // A refusal is bound by a window that refused.
    if (answer === undefined || (!result.allowed && answer.allowed)) return
    const current = best?.answer
    // Refused: the window that keeps the client out longest. Allowed: the least left.
    const better = current === undefined ||
      (result.allowed
        ? answer.remaining < current.remaining || (answer.remaining === current.remaining && answer.resetMs > current.resetMs)
        : answer.resetMs > current.resetMs)
    if (better) best = { spec, answer }
  })
  if (best === undefined) return undefined
  const { spec, answer } = best
  return {
    policy: spec.policy,
    max: spec.max,
    remaining: answer.remaining,
    // A refusal always says to wait at least a second: `Retry-After: 0` invites a hot loop.
    resetSeconds: result.allowed ? Math.ceil(answer.resetMs / 1000) : Math.max(1, Math.ceil(answer.resetMs / 1000))
  }
}

/** One subject of a multi-subject decision (one Envoy descriptor). */
export interface GroupInput {
  readonly subject: string
  readonly limits: PlanLimits
  /** A shadow rule: reported, never refusing. */
  readonly advisory: boolean
}

export interface GroupsDecision {
  /** False when any enforced group refused, or the store failed under `deny`. */
  readonly allowed: boolean
  /** One per input group, in order. `refusal` is set on the groups that refused themselves. */
  readonly groups: readonly Decision[]
}

export class Limiter {
  readonly #options: LimiterOptions
  #inFlight = 0
  /** Refusals answered without the store until it would allow again (refusal-cache.ts). */
  readonly #refusals = new RefusalCache()

  constructor (options: LimiterOptions) {
    this.#options = options
  }

  /**
   * Never lets a request through unchecked: past `maxChecksInFlight` it is shed, refused
   * whatever `on_redis_error` says (the store did not fail; tollgate is too busy to ask
   * it), and only `shadow` lets it go on.
   */
  async decide (subject: string, limits: PlanLimits, cost: number, dryRun = false): Promise<Decision> {
    const request = { subject, windows: limits.windows, cost, dryRun }
    const { events, shadow, maxChecksInFlight } = this.#options
    const { policyHeader } = limits
    const started = performance.now()
    // Shadow refuses nothing, so it has no refusal to remember.
    const remembered = shadow ? undefined : this.#refusals.get(limits, subject, cost, started)
    if (remembered !== undefined) return remembered
    if (this.#inFlight >= maxChecksInFlight) return shadow ? { outcome: 'overloaded', policyHeader } : { outcome: 'overloaded', refusal: 'overloaded', policyHeader }
    this.#inFlight++
    let result: LimitResult
    try {
      result = await this.#options.store.check(request)
    } catch (error) {
      const kind = classifyStoreError(error)
      if (kind !== undefined) {
        events?.onStoreFailure?.(kind)
        return await this.#degraded(request, limits)
      }
      // Not Redis' failure, so not `on_redis_error`'s to decide: this request cannot be
      // checked, and an unchecked request is not let through.
      events?.onInternalError?.(error, subject)
      return shadow ? { outcome: 'degraded', policyHeader } : { outcome: 'degraded', refusal: 'internal_error', policyHeader }
    } finally {
      this.#inFlight--
      events?.onCheck?.((performance.now() - started) / 1000)
    }
    const decision = this.#verdict(limits, result, result.allowed ? 'allowed' : 'limited')
    if (decision.refusal === 'rate_limited') this.#refusals.remember(limits, subject, cost, decision, started)
    return decision
  }

  /**
   * Several subjects in one atomic store call (`checkGroups`): all spend or none. A
   * group that fits in a refused call spent nothing and counts as `limited` (its request
   * was); it still reports its own numbers and no refusal.
   */
  async decideGroups (tag: string, groups: readonly GroupInput[], cost: number): Promise<GroupsDecision> {
    const request: GroupsRequest = {
      tag,
      cost,
      groups: groups.map((g) => ({ subject: g.subject, windows: g.limits.windows, advisory: g.advisory }))
    }
    const { events, shadow, onStoreError, fallback } = this.#options
    const started = performance.now()
    let result: GroupsResult
    try {
      result = await this.#options.store.checkGroups(request)
    } catch (error) {
      const kind = classifyStoreError(error)
      if (kind === undefined) {
        // Not Redis' failure: logged, and the call is refused rather than let through.
        events?.onInternalError?.(error, tag)
        return { allowed: shadow, groups: groups.map((g) => ({ outcome: 'degraded', refusal: shadow ? undefined : 'internal_error', policyHeader: g.limits.policyHeader })) }
      }
      events?.onStoreFailure?.(kind)
      if (onStoreError === 'local' && fallback !== undefined) return this.#groupVerdicts(groups, await fallback.checkGroups(request), true)
      const refusal = onStoreError === 'deny' && !shadow ? 'limiter_unavailable' as const : undefined
      return {
        allowed: refusal === undefined,
        groups: groups.map((g) => ({ outcome: 'degraded', refusal, policyHeader: g.limits.policyHeader }))
      }
    } finally {
      events?.onCheck?.((performance.now() - started) / 1000)
    }
    return this.#groupVerdicts(groups, result, false)
  }

  #groupVerdicts (groups: readonly GroupInput[], result: GroupsResult, degraded: boolean): GroupsDecision {
    const shadow = this.#options.shadow
    const decisions = groups.map((g, i): Decision => {
      const own = result.groups[i]
      if (own === undefined) throw new Error(`the store answered ${result.groups.length} groups for ${groups.length}`)
      const binding = bindingOf(g.limits, own)
      const { policyHeader } = g.limits
      let outcome: Outcome
      if (degraded) outcome = 'degraded'
      else if (result.allowed) outcome = own.allowed ? 'allowed' : 'would_limit'
      else if (shadow) outcome = own.allowed ? 'allowed' : 'would_limit'
      else outcome = 'limited'
      const refuses = !own.allowed && !g.advisory && !shadow
      return refuses ? { outcome, refusal: 'rate_limited', policyHeader, binding } : { outcome, policyHeader, binding }
    })
    return { allowed: result.allowed || shadow, groups: decisions }
  }

  #verdict (limits: PlanLimits, result: LimitResult, outcome: Outcome): Decision {
    const binding = bindingOf(limits, result)
    const { policyHeader } = limits
    const { windows } = result
    if (result.allowed) return { outcome, policyHeader, binding, windows }
    if (this.#options.shadow) return { outcome: outcome === 'limited' ? 'would_limit' : outcome, policyHeader, binding, windows }
    return { outcome, refusal: 'rate_limited', policyHeader, binding, windows }
  }

  /** Decided without the shared store: `on_redis_error` says how. */
  async #degraded (request: Parameters<LimitStore['check']>[0], limits: PlanLimits): Promise<Decision> {
    const { onStoreError, fallback, shadow } = this.#options
    const { policyHeader } = limits
    if (onStoreError === 'local' && fallback !== undefined) {
      return this.#verdict(limits, await fallback.check(request), 'degraded')
    }
    if (onStoreError === 'deny' && !shadow) return { outcome: 'degraded', refusal: 'limiter_unavailable', policyHeader }
    return { outcome: 'degraded', policyHeader }
  }
}
