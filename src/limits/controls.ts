import { BlockList, isIPv6 } from 'node:net'
import type { Logger } from 'pino'
import { ANONYMOUS } from '../config'
import type { ControlsBackend, Ban, Override, AuditEntry, ControlsSnapshot } from './controls-types'
import type { Identity } from './identity'

/**
 * How often a replica re-reads the overrides and bans from Redis: a change made through
 * any replica applies on every other within this (plus one round trip). A short-TTL
 * cache rather than pub/sub: no second connection per replica, nothing lost while a
 * replica was disconnected, and the expiry of an entry needs no message at all.
 */
export const CONTROLS_REFRESH_MS = 250
/** Recent spenders are written to Redis in one batch per this: never one write per request. */
export const SPENDERS_FLUSH_MS = 1000

const expired = (entry: { readonly expires?: string }, now: number): boolean =>
  entry.expires !== undefined && Date.parse(entry.expires) <= now

/** A BlockList holding one IP or CIDR target. */
function blockOf (target: string): BlockList {
  const list = new BlockList()
  const slash = target.indexOf('/')
  const address = slash === -1 ? target : target.slice(0, slash)
  const family = isIPv6(address) ? 'ipv6' : 'ipv4'
  if (slash === -1) list.addAddress(address, family)
  else list.addSubnet(address, Number(target.slice(slash + 1)), family)
  return list
}

/**
 * The overrides and bans in force on this replica, and the way to change them. Lookups
 * are synchronous, from a snapshot (the request path never waits on Redis for them);
 * changes go to the backend first and then into the snapshot, so the replica that made
 * one applies it at once and the others at their next refresh.
 */
export class Controls {
  readonly #backend: ControlsBackend
  readonly #log: Logger
  #overrides = new Map<string, Override>()
  #clientBans = new Map<string, Ban>()
  #ipBans: Array<{ readonly ban: Ban, readonly list: BlockList }> = []
  #spenders = new Set<string>()
  readonly #timers: NodeJS.Timeout[] = []
  #refreshing = false
  /** Moved by every change made here: a read that began before one is stale and dropped. */
  #generation = 0

  constructor (backend: ControlsBackend, options: { readonly log: Logger, readonly shared: boolean }) {
    this.#backend = backend
    this.#log = options.log
    this.#timers.push(setInterval(() => { void this.#flushSpenders() }, SPENDERS_FLUSH_MS).unref())
    // In memory, every change is made in this snapshot: there is nothing to re-read.
    if (options.shared) this.#timers.push(setInterval(() => { void this.refresh() }, CONTROLS_REFRESH_MS).unref())
  }

  /** Re-reads the backend; a failure keeps the last snapshot (bans keep refusing while Redis is away). */
  async refresh (): Promise<void> {
    if (this.#refreshing) return
    this.#refreshing = true
    const generation = this.#generation
    try {
      const snapshot = await this.#backend.load()
      // A change made here meanwhile is newer than what was read; the next refresh has both.
      if (generation === this.#generation) this.#apply(snapshot)
    } catch {
      // Redis is down or slow: the limit checks report that; the snapshot stays.
    } finally {
      this.#refreshing = false
    }
  }

  #apply (snapshot: ControlsSnapshot): void {
    const now = Date.now()
    const live = {
      overrides: snapshot.overrides.filter((o) => !expired(o, now)),
      bans: snapshot.bans.filter((b) => !expired(b, now))
    }
    this.#overrides = new Map(live.overrides.map((o) => [o.client, o]))
    this.#clientBans = new Map(live.bans.filter((b) => b.kind === 'client').map((b) => [b.target, b]))
    this.#ipBans = live.bans.filter((b) => b.kind === 'ip').map((ban) => ({ ban, list: blockOf(ban.target) }))
    const gone = {
      overrides: snapshot.overrides.filter((o) => expired(o, now)).map((o) => o.client),
      bans: snapshot.bans.filter((b) => expired(b, now)).map((b) => b.target)
    }
    if (gone.overrides.length + gone.bans.length > 0) {
      this.#backend.prune(gone).catch((error: unknown) => { this.#log.debug({ err: error }, 'expired controls not pruned yet') })
    }
  }

  /** The override in force for a client name, if any. */
  overrideOf (client: string): Override | undefined {
    const override = this.#overrides.get(client)
    return override === undefined || expired(override, Date.now()) ? undefined : override
  }

  /** The ban that refuses this caller: its name, or for an anonymous caller its IP. */
  banOf (identity: Identity): Ban | undefined {
    const now = Date.now()
    if (identity.client !== ANONYMOUS) {
      const ban = this.#clientBans.get(identity.client)
      return ban === undefined || expired(ban, now) ? undefined : ban
    }
    if (this.#ipBans.length === 0) return undefined
    // An anonymous subject is `anon:<ip>` (IPv6 as its /64 network's first address).
    const ip = identity.subject.slice('anon:'.length)
    const family = isIPv6(ip) ? 'ipv6' : 'ipv4'
    return this.#ipBans.find(({ ban, list }) => !expired(ban, now) && list.check(ip, family))?.ban
  }

  /** Counted in one batch per second into the recent-spenders set (`GET /v1/usage?top=`). */
  noteSpender (client: string): void {
    this.#spenders.add(client)
  }

  async #flushSpenders (): Promise<void> {
    if (this.#spenders.size === 0) return
    const clients = [...this.#spenders]
    this.#spenders = new Set()
    try {
      await this.#backend.noteSpenders(clients, Date.now())
    } catch {
      // Lost for this second: the set is a hint for `top`, not a count.
    }
  }

  async putOverride (override: Override): Promise<void> {
    await this.#backend.putOverride(override)
    this.#generation++
    this.#overrides.set(override.client, override)
  }

  async removeOverride (client: string): Promise<boolean> {
    const removed = await this.#backend.removeOverride(client)
    this.#generation++
    this.#overrides.delete(client)
    return removed
  }

  async putBan (ban: Ban): Promise<void> {
    await this.#backend.putBan(ban)
    this.#generation++
    if (ban.kind === 'client') this.#clientBans.set(ban.target, ban)
    else this.#ipBans = [...this.#ipBans.filter((b) => b.ban.target !== ban.target), { ban, list: blockOf(ban.target) }]
  }

  async removeBan (target: string): Promise<boolean> {
    const removed = await this.#backend.removeBan(target)
    this.#generation++
    this.#clientBans.delete(target)
    this.#ipBans = this.#ipBans.filter((b) => b.ban.target !== target)
    return removed
  }

  /** What the backend holds now, expired entries left out: the lists of `GET /v1/overrides` and `/v1/bans`. */
  async list (): Promise<ControlsSnapshot> {
    const generation = this.#generation
    const snapshot = await this.#backend.load()
    if (generation === this.#generation) this.#apply(snapshot)
    return { overrides: [...this.#overrides.values()], bans: [...this.#clientBans.values(), ...this.#ipBans.map((b) => b.ban)] }
  }

  /** How many are in force on this replica, for `/health/full`. */
  counts (): { readonly overrides: number, readonly bans: number } {
    const now = Date.now()
    return {
      overrides: [...this.#overrides.values()].filter((o) => !expired(o, now)).length,
      bans: [...this.#clientBans.values(), ...this.#ipBans.map((b) => b.ban)].filter((b) => !expired(b, now)).length
    }
  }

  async appendAudit (entry: AuditEntry): Promise<void> {
    await this.#backend.appendAudit(entry)
  }

  async audit (limit: number): Promise<AuditEntry[]> {
    return await this.#backend.audit(limit)
  }

  async recentSpenders (limit: number): Promise<string[]> {
    // This replica's last second too, so the answer includes what it just saw.
    await this.#flushSpenders()
    return await this.#backend.recentSpenders(limit)
  }

  close (): void {
    for (const timer of this.#timers) clearInterval(timer)
  }
}
