import { ALGORITHMS, MAX_AMOUNT } from '../config'
import { InvalidLimitRequestError } from './store-errors'
import type { GroupsRequest, LimitRequest } from './types'

/**
 * The checks every store makes on a request before it evaluates anything, so the
 * memory store and the Redis store refuse exactly the same requests, with the same
 * message.
 */

export function assertCost (cost: number): void {
  if (!Number.isSafeInteger(cost) || cost < 0 || cost > MAX_AMOUNT) {
    throw new InvalidLimitRequestError(`cost must be an integer from 0 to ${MAX_AMOUNT}, got ${cost}`)
  }
}

/**
 * Both stores refuse a malformed request up front: in Redis it would fail inside the
 * script with a cryptic error, or worse, be evaluated with NaN.
 */
export function assertLimitRequest (request: LimitRequest): void {
  const { subject, windows, cost } = request
  if (typeof subject !== 'string' || subject === '') {
    throw new InvalidLimitRequestError('subject must be a non-empty string')
  }
  assertCost(cost)
  const scopes = new Set<string>()
  for (const w of windows) {
    if (!Number.isSafeInteger(w.max) || w.max < 1 || w.max > MAX_AMOUNT) {
      throw new InvalidLimitRequestError(`${w.scope}: max must be an integer from 1 to ${MAX_AMOUNT}, got ${w.max}`)
    }
    if (!Number.isSafeInteger(w.perMs) || w.perMs < 1 || !Number.isSafeInteger(w.perMs * 1000)) {
      throw new InvalidLimitRequestError(`${w.scope}: perMs must be a positive integer, got ${w.perMs}`)
    }
    // A caller's untyped object can carry any string here: the list, not the type, decides.
    if (!(ALGORITHMS as readonly unknown[]).includes(w.algorithm)) {
      throw new InvalidLimitRequestError(`${w.scope}: unknown algorithm ${String(w.algorithm)}`)
    }
    // Two windows sharing one state would each read it before either spends.
    if (scopes.has(w.scope)) throw new InvalidLimitRequestError(`scope ${w.scope} appears twice`)
    scopes.add(w.scope)
  }
}

/** Each group as `assertLimitRequest` checks one; a (subject, scope) pair appears once. */
export function assertGroupsRequest (request: GroupsRequest): void {
  const { tag, groups, cost } = request
  if (typeof tag !== 'string' || tag === '') throw new InvalidLimitRequestError('tag must be a non-empty string')
  assertCost(cost)
  const seen = new Set<string>()
  for (const group of groups) {
    assertLimitRequest({ subject: group.subject, windows: group.windows, cost })
    for (const w of group.windows) {
      const key = `${group.subject.length}:${group.subject}:${w.scope}`
      // As within one request: two windows sharing one state would each read it before either spends.
      if (seen.has(key)) throw new InvalidLimitRequestError(`subject ${group.subject} has scope ${w.scope} twice`)
      seen.add(key)
    }
  }
}
