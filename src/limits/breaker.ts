import { RedisFailure } from './store-errors'
import type { GroupsRequest, GroupsResult, LimitRequest, LimitResult, LimitStore } from './types'

export const CIRCUIT_STATES = ['closed', 'half_open', 'open'] as const
export type CircuitState = typeof CIRCUIT_STATES[number]

/** Thrown instead of calling a store the breaker has given up on for now. */
export class CircuitOpenError extends RedisFailure {
  constructor () {
    super('circuit_open', 'redis circuit is open: not calling it until the next probe')
    this.name = 'CircuitOpenError'
  }
}

interface BreakerOptions {
  /** Consecutive failures that open the circuit. Default 5. */
  readonly failureThreshold?: number
  /**
   * First pause before a probe; doubles while probes fail. Default 100 ms: a probe is
   * one request, and against a dead connection it fails at once, so probing often is
   * cheap, while every pause is time the limits are off.
   */
  readonly openMs?: number
  /** Longest pause between probes, so limits are back within about this of Redis. Default 1000 ms. */
  readonly maxOpenMs?: number
  readonly now?: () => number
  readonly onStateChange?: (state: CircuitState) => void
}

/**
 * A circuit breaker in front of a limit store. A hung Redis costs every request the
 * full command timeout and piles commands onto its socket; after `failureThreshold`
 * failures in a row the breaker answers at once instead (the caller treats that like
 * any store failure: `on_redis_error` decides), then lets a single request through
 * as a probe: success closes it, failure opens it for twice as long.
 *
 * Only a `RedisFailure` counts against Redis. An error of tollgate's own (a request no
 * store can evaluate) says nothing about Redis, so it must not open the circuit for
 * every other key.
 * Load tollgate itself cannot keep up with is shed before it reaches the store
 * (limiter.ts), so a busy tollgate does not open the circuit either.
 */
export class BreakingStore implements LimitStore {
  readonly #inner: LimitStore
  readonly #threshold: number
  readonly #openMs: number
  readonly #maxOpenMs: number
  readonly #now: () => number
  readonly #onStateChange: (state: CircuitState) => void
  #state: CircuitState = 'closed'
  #failures = 0
  #pause: number
  #openUntil = 0
  /** True while the one probe of a half-open circuit is out. */
  #probing = false

  constructor (inner: LimitStore, options: BreakerOptions = {}) {
    this.#inner = inner
    this.#threshold = options.failureThreshold ?? 5
    this.#openMs = options.openMs ?? 100
    this.#maxOpenMs = options.maxOpenMs ?? 1000
    this.#now = options.now ?? Date.now
    this.#onStateChange = options.onStateChange ?? (() => {})
    this.#pause = this.#openMs
  }

  get state (): CircuitState {
    return this.#state
  }

  async check (request: LimitRequest): Promise<LimitResult> {
    return await this.#through(async () => await this.#inner.check(request))
  }

  /** The same circuit: both kinds of call go to the same Redis. */
  async checkGroups (request: GroupsRequest): Promise<GroupsResult> {
    return await this.#through(async () => await this.#inner.checkGroups(request))
  }

  async #through<T> (call: () => Promise<T>): Promise<T> {
    const probe = this.#state !== 'closed'
    if (probe) {
      if (this.#probing || this.#now() < this.#openUntil) throw new CircuitOpenError()
      this.#probing = true
      if (this.#state === 'open') this.#set('half_open')
    }
    try {
      const result = await call()
      this.#succeeded()
      return result
    } catch (error) {
      // Anything else proved nothing about Redis: a probe that ends so leaves the
      // circuit half-open for the next request to probe.
      if (error instanceof RedisFailure) this.#failed()
      throw error
    } finally {
      if (probe) this.#probing = false
    }
  }

  /**
   * Redis has just (re)connected: the next request probes at once instead of waiting
   * out the pause, so limits are back as soon as Redis is.
   */
  probeSoon (): void {
    if (this.#state !== 'open') return
    this.#pause = this.#openMs
    this.#openUntil = this.#now()
  }

  async close (): Promise<void> {
    await this.#inner.close()
  }

  #succeeded (): void {
    this.#failures = 0
    this.#pause = this.#openMs
    if (this.#state !== 'closed') this.#set('closed')
  }

  #failed (): void {
    this.#failures++
    if (this.#state === 'half_open') {
      this.#pause = Math.min(this.#pause * 2, this.#maxOpenMs)
      this.#open()
    } else if (this.#state === 'closed' && this.#failures >= this.#threshold) {
      this.#open()
    }
  }

  #open (): void {
    this.#openUntil = this.#now() + this.#pause
    this.#set('open')
  }

  #set (state: CircuitState): void {
    this.#state = state
    this.#onStateChange(state)
  }
}
