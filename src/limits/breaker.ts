import type { GroupsRequest, GroupsResult, LimitRequest, LimitResult, LimitStore } from './types'

export type CircuitState = 'closed' | 'half_open' | 'open'

/** Thrown instead of calling a store the breaker has given up on for now. */
export class CircuitOpenError extends Error {
  readonly code = 'CIRCUIT_OPEN'
  constructor () {
    super('redis circuit is open: not calling it until the next probe')
    this.name = 'CircuitOpenError'
  }
}

export interface BreakerOptions {
  /** Consecutive failures that open the circuit. Default 5. */
  readonly failureThreshold?: number
  /** First pause before a probe; doubles while probes fail. Default 500 ms. */
  readonly openMs?: number
  /** Longest pause between probes. Default 5000 ms. */
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

  constructor (inner: LimitStore, options: BreakerOptions = {}) {
    this.#inner = inner
    this.#threshold = options.failureThreshold ?? 5
    this.#openMs = options.openMs ?? 500
    this.#maxOpenMs = options.maxOpenMs ?? 5000
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
    if (this.#state === 'half_open') throw new CircuitOpenError()
    if (this.#state === 'open') {
      if (this.#now() < this.#openUntil) throw new CircuitOpenError()
      this.#set('half_open')
    }
    try {
      const result = await call()
      this.#succeeded()
      return result
    } catch (error) {
      this.#failed()
      throw error
    }
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
