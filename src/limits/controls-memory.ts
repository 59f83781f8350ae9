import { AUDIT_KEEP, SPENDERS_KEEP, type AuditEntry, type Ban, type ControlsBackend, type ControlsSnapshot, type Override } from './controls-types'

/** The embedded store's controls: this process only, like its counts. */
export class MemoryControls implements ControlsBackend {
  readonly #overrides = new Map<string, Override>()
  readonly #bans = new Map<string, Ban>()
  #audit: AuditEntry[] = []
  /** Insertion order is recency: a client noted again moves to the end. */
  readonly #spenders = new Set<string>()

  async load (): Promise<ControlsSnapshot> {
    return { overrides: [...this.#overrides.values()], bans: [...this.#bans.values()] }
  }

  async putOverride (override: Override): Promise<void> {
    this.#overrides.set(override.client, override)
  }

  async putBan (ban: Ban): Promise<void> {
    this.#bans.set(ban.target, ban)
  }

  async removeOverride (client: string): Promise<boolean> {
    return this.#overrides.delete(client)
  }

  async removeBan (target: string): Promise<boolean> {
    return this.#bans.delete(target)
  }

  async prune (expired: { readonly overrides: readonly string[], readonly bans: readonly string[] }): Promise<void> {
    for (const client of expired.overrides) this.#overrides.delete(client)
    for (const target of expired.bans) this.#bans.delete(target)
  }

  async appendAudit (entry: AuditEntry): Promise<void> {
    this.#audit.unshift(entry)
    if (this.#audit.length > AUDIT_KEEP) this.#audit = this.#audit.slice(0, AUDIT_KEEP)
  }

  async audit (limit: number): Promise<AuditEntry[]> {
    return this.#audit.slice(0, limit)
  }

  async noteSpenders (clients: readonly string[]): Promise<void> {
    for (const client of clients) {
      this.#spenders.delete(client)
      this.#spenders.add(client)
    }
    for (const oldest of this.#spenders) {
      if (this.#spenders.size <= SPENDERS_KEEP) break
      this.#spenders.delete(oldest)
    }
  }

  async recentSpenders (limit: number): Promise<string[]> {
    return [...this.#spenders].reverse().slice(0, limit)
  }
}
