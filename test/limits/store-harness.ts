import type { Test } from 'tap'
import type { Algorithm, GroupsResult, LimitGroup, LimitRequest, LimitResult, LimitStore, WindowSpec } from '../../src/limits/types'

/**
 * The harness of store-behaviour.ts (what every LimitStore must do, run against each
 * store by its own test file), and the calls and checks its suites share. Time is
 * the harness's: a fake clock moved instantly for the memory store, real waits (kept
 * short) for Redis, where `slackMs` absorbs the time that passes between two calls.
 */
export interface Harness {
  /** `n` stores sharing one state (Redis: one connection each), closed at teardown. */
  stores(t: Test, n: number): LimitStore[]
  /** The store's clock, in ms since the epoch. */
  now(): number
  /** Moves the clock forward: instantly when fake, a real wait otherwise. */
  sleep(ms: number): Promise<void>
  /** How far real time may drift between two steps: 0 with a fake clock. */
  readonly slackMs: number
}

export const ALGORITHMS: readonly Algorithm[] = ['gcra', 'fixed', 'sliding']

/**
 * 2^40 ms (~35 years): its fixed and sliding windows next turn over in 2039, and a gcra
 * bucket of a few units drains less than a micro-unit during a test. For counts that
 * must not move while the test runs.
 */
export const LONG = 2 ** 40

let subjects = 0
/** A fresh subject per test, so tests sharing one Redis never share state. */
export function freshSubject (): string {
  subjects += 1
  return `test-${process.pid}-${Date.now()}-${subjects}`
}

export function win (algorithm: Algorithm, max: number, perMs: number, scope = 'plan:0'): WindowSpec {
  return { policy: `p-${max}`, scope, max, perMs, algorithm }
}

export function check (store: LimitStore, subject: string, windows: WindowSpec[], cost = 1): Promise<LimitResult> {
  const request: LimitRequest = { subject, windows, cost }
  return store.check(request)
}

export function checkGroups (store: LimitStore, groups: LimitGroup[], cost = 1, tag = 'rls:test'): Promise<GroupsResult> {
  return store.checkGroups({ tag, groups, cost })
}

/** Waits until `offsetMs` into the next window of `perMs` on the harness clock. */
export async function nextWindow (h: Harness, perMs: number, offsetMs: number): Promise<void> {
  const now = h.now()
  await h.sleep(Math.floor(now / perMs) * perMs + perMs + offsetMs - now)
}

/** Makes sure at least `needMs` remain in the current window of `perMs`. */
export async function settle (h: Harness, perMs: number, needMs: number): Promise<void> {
  if (perMs - (h.now() % perMs) < needMs) await nextWindow(h, perMs, 0)
}

export function near (t: Test, actual: number, expected: number, slack: number, message: string): void {
  t.ok(
    actual <= expected + slack && actual >= expected - slack,
    `${message}: ${actual} within ${slack} of ${expected}`
  )
}
