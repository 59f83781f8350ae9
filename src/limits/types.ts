/**
 * The narrow contract between the limiter and its storage. A store evaluates every
 * window of one request at once and atomically: either every window allows and each
 * spends `cost`, or nothing is spent.
 */

import type { Algorithm } from '../config'

export type { Algorithm }

export interface WindowSpec {
  /** Policy name shown to clients in `RateLimit-Policy`, e.g. `free-1s`. */
  readonly policy: string
  /**
   * Where this window's state lives under the subject, e.g. `plan:0` or
   * `route:POST /v1/search:0`. Never derived from `max` or `per`, so a changed limit
   * reinterprets what was already spent instead of starting from zero.
   */
  readonly scope: string
  readonly max: number
  readonly perMs: number
  readonly algorithm: Algorithm
}

export interface LimitRequest {
  /** Who is being limited: a client name from config, or `anon:<ip>`. Never a raw key. */
  readonly subject: string
  readonly windows: readonly WindowSpec[]
  /** How much one request spends in every window (a route's `cost`, default 1). */
  readonly cost: number
  /**
   * Evaluate exactly as a real check would, at this moment, and spend nothing: the
   * answer `POST /v1/check` gives with `dry_run: true`.
   */
  readonly dryRun?: boolean
}

export interface WindowResult {
  readonly allowed: boolean
  /** Whole units left after this request (if allowed) or now (if refused). */
  readonly remaining: number
  /**
   * Milliseconds until this window allows again. Refused: until a request of this cost
   * fits. Allowed: until the window is back to its full budget.
   */
  readonly resetMs: number
}

export interface LimitResult {
  /** True only when every window allowed, and then every window spent `cost`. */
  readonly allowed: boolean
  /** One result per window, in the order of `LimitRequest.windows`. */
  readonly windows: readonly WindowResult[]
}

export interface LimitStore {
  /** Rejects when the backing store cannot answer (Redis down, timeout). */
  check(request: LimitRequest): Promise<LimitResult>
  /** Several subjects in one atomic call; rejects like `check`. */
  checkGroups(request: GroupsRequest): Promise<GroupsResult>
  close(): Promise<void>
}

/** One subject's windows inside a `GroupsRequest`. */
export interface LimitGroup {
  readonly subject: string
  readonly windows: readonly WindowSpec[]
  /**
   * Advisory (a shadow rule): its windows are evaluated and reported, and spend when
   * they fit, but a window that does not fit never refuses the request.
   */
  readonly advisory?: boolean
}

/**
 * Several subjects decided in one atomic call (Envoy sends several descriptors per
 * request): either every enforced window of every group fits and all spend, or nothing
 * is spent.
 */
export interface GroupsRequest {
  /**
   * Replaces the per-subject hash tag of the keys: every key of the call lands in the
   * slot of `tollgate:{<tag>}`, which a multi-key script needs under Redis Cluster. It
   * must never equal a subject of a single-subject `check` (use a prefix, e.g. `rls:`).
   */
  readonly tag: string
  readonly groups: readonly LimitGroup[]
  /** Spent in every window of every group. */
  readonly cost: number
}

export interface GroupsResult {
  /** True when no enforced window refused; then every fitting window spent `cost`. */
  readonly allowed: boolean
  /** One result per group, in order; a group's `allowed` is its own windows' verdict. */
  readonly groups: readonly LimitResult[]
}
