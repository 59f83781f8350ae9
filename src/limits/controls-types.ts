/**
 * What an operator sets at run time, beside the config file: per-client overrides,
 * bans, and the audit trail of every change. Stored in Redis when the config has one
 * (shared by every replica), else in memory; never in the file, so a reload or a
 * restart keeps them.
 */

/** A window of an override, written like a plan's: `{ max: 10, per: "1s" }`. */
export interface OverrideWindow {
  readonly max: number
  readonly per: string
}

/** A client's limits replaced until `expires` (or until deleted): another plan, or windows of its own. */
export interface Override {
  /** A key's `name`. */
  readonly client: string
  readonly plan?: string
  readonly windows?: readonly OverrideWindow[]
  /** ISO time; absent: until deleted. */
  readonly expires?: string
  readonly reason?: string
  /** Who set it (the admin token's name) and when. */
  readonly by: string
  readonly at: string
}

export type BanKind = 'client' | 'ip'

/** A client name, an IP or a CIDR refused with 403 `banned` until `expires`. */
export interface Ban {
  /** A key's `name`, an IP address or a CIDR (`10.0.0.0/8`), as normalised. */
  readonly target: string
  readonly kind: BanKind
  readonly expires: string
  readonly reason?: string
  readonly by: string
  readonly at: string
}

/** One line of the audit trail; also written to the log with `audit: true`. */
export interface AuditEntry {
  readonly at: string
  /** `reload`, `override` or `ban`: the `kind` label of tollgate_admin_changes_total. */
  readonly kind: ChangeKind
  /** `put`, `delete` or `reload`. */
  readonly action: string
  /** The admin token's name, `loopback` (no token set), or the reload's trigger. */
  readonly who: string
  readonly target?: string
  /** The override or ban, or the reload's diff by name. */
  readonly what?: unknown
  readonly config_hash: { readonly old: string, readonly new: string }
}

export const CHANGE_KINDS = ['reload', 'override', 'ban'] as const
export type ChangeKind = typeof CHANGE_KINDS[number]

/** The audit trail keeps this many entries, newest first. */
export const AUDIT_KEEP = 1000
/** The recent-spenders set keeps this many clients, the most recent. */
export const SPENDERS_KEEP = 10_000

export interface ControlsSnapshot {
  readonly overrides: readonly Override[]
  readonly bans: readonly Ban[]
}

/** Where the controls live: Redis (controls-redis.ts) or this process (controls-memory.ts). */
export interface ControlsBackend {
  /** Every override and ban stored, expired ones included (the caller filters and prunes). */
  load(): Promise<ControlsSnapshot>
  putOverride(override: Override): Promise<void>
  putBan(ban: Ban): Promise<void>
  /** True when there was one to remove. */
  removeOverride(client: string): Promise<boolean>
  removeBan(target: string): Promise<boolean>
  /** Drops entries found expired; a replica that reads them again drops them again, harmlessly. */
  prune(expired: { readonly overrides: readonly string[], readonly bans: readonly string[] }): Promise<void>
  appendAudit(entry: AuditEntry): Promise<void>
  /** The newest `limit` entries, newest first. */
  audit(limit: number): Promise<AuditEntry[]>
  /** Marks clients as having spent now; the set keeps the `SPENDERS_KEEP` most recent. */
  noteSpenders(clients: readonly string[], nowMs: number): Promise<void>
  /** The most recent spenders first, at most `limit`. */
  recentSpenders(limit: number): Promise<string[]>
}
