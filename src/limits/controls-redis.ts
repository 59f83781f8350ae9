import { ReplyError } from 'ioredis'
import { answerWithin } from './deadline'
import { RedisFailure } from './store-errors'
import type { RedisConnection } from './redis-client'
import { AUDIT_KEEP, SPENDERS_KEEP, type AuditEntry, type Ban, type ControlsBackend, type ControlsSnapshot, type Override } from './controls-types'

/**
 * The controls in Redis, shared by every replica. One hash tag for all of them, so a
 * Cluster keeps them in one slot; `admin/` can never be a client's subject (a name has
 * no `/`, an anonymous one starts with `anon:`), so no client's counts share these keys.
 */
const PREFIX = 'tollgate:{admin/}:'
const OVERRIDES = `${PREFIX}overrides`
const BANS = `${PREFIX}bans`
const AUDIT = `${PREFIX}audit`
const SPENDERS = `${PREFIX}spenders`

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null

/** Entries are written by this file only; one that does not parse (a hand edit) is skipped, not trusted. */
function parseEach<T> (values: readonly string[], valid: (value: Record<string, unknown>) => boolean): T[] {
  const out: T[] = []
  for (const text of values) {
    try {
      const value: unknown = JSON.parse(text)
      // The shape was checked by `valid` on the fields the readers use.
      if (isRecord(value) && valid(value)) out.push(value as T)
    } catch {
      // Not JSON: skipped like any malformed entry.
    }
  }
  return out
}

export class RedisControls implements ControlsBackend {
  readonly #redis: RedisConnection
  readonly #timeoutMs: number

  constructor (redis: RedisConnection, options: { timeoutMs: number }) {
    this.#redis = redis
    this.#timeoutMs = options.timeoutMs
  }

  /**
   * Every command bounded like a limit check (a hung Redis is an error, not a hung admin
   * call), and whatever ioredis rejects with is Redis' doing, as in store-redis.ts.
   */
  async #within<T> (reply: Promise<T>): Promise<T> {
    return await answerWithin(reply.catch((error: unknown) => {
      if (error instanceof ReplyError) throw new RedisFailure('other', 'redis answered with an error', error)
      throw new RedisFailure('connection', 'redis is not reachable', error)
    }), this.#timeoutMs)
  }

  async load (): Promise<ControlsSnapshot> {
    const [overrides, bans] = await this.#within(Promise.all([this.#redis.hvals(OVERRIDES), this.#redis.hvals(BANS)]))
    return {
      overrides: parseEach<Override>(overrides, (v) => typeof v.client === 'string'),
      bans: parseEach<Ban>(bans, (v) => typeof v.target === 'string' && typeof v.expires === 'string' && (v.kind === 'client' || v.kind === 'ip'))
    }
  }

  async putOverride (override: Override): Promise<void> {
    await this.#within(this.#redis.hset(OVERRIDES, override.client, JSON.stringify(override)))
  }

  async putBan (ban: Ban): Promise<void> {
    await this.#within(this.#redis.hset(BANS, ban.target, JSON.stringify(ban)))
  }

  async removeOverride (client: string): Promise<boolean> {
    return await this.#within(this.#redis.hdel(OVERRIDES, client)) > 0
  }

  async removeBan (target: string): Promise<boolean> {
    return await this.#within(this.#redis.hdel(BANS, target)) > 0
  }

  async prune (expired: { readonly overrides: readonly string[], readonly bans: readonly string[] }): Promise<void> {
    const pending: Array<Promise<number>> = []
    if (expired.overrides.length > 0) pending.push(this.#redis.hdel(OVERRIDES, ...expired.overrides))
    if (expired.bans.length > 0) pending.push(this.#redis.hdel(BANS, ...expired.bans))
    await this.#within(Promise.all(pending))
  }

  async appendAudit (entry: AuditEntry): Promise<void> {
    await this.#within(this.#redis.multi().lpush(AUDIT, JSON.stringify(entry)).ltrim(AUDIT, 0, AUDIT_KEEP - 1).exec())
  }

  async audit (limit: number): Promise<AuditEntry[]> {
    const values = await this.#within(this.#redis.lrange(AUDIT, 0, limit - 1))
    return parseEach<AuditEntry>(values, (v) => typeof v.kind === 'string' && typeof v.at === 'string')
  }

  async noteSpenders (clients: readonly string[], nowMs: number): Promise<void> {
    if (clients.length === 0) return
    const members = clients.flatMap((client) => [nowMs, client])
    // ZADD then trim to the newest SPENDERS_KEEP: the set never grows past it.
    await this.#within(this.#redis.multi().zadd(SPENDERS, ...members).zremrangebyrank(SPENDERS, 0, -(SPENDERS_KEEP + 1)).exec())
  }

  async recentSpenders (limit: number): Promise<string[]> {
    return await this.#within(this.#redis.zrevrange(SPENDERS, 0, limit - 1))
  }
}
