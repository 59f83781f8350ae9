import { ReplyError, type Cluster, type Redis } from 'ioredis'
import { answerWithin } from './deadline'
import { RedisFailure, UnexpectedReplyError } from './store-errors'
import { CHECK_SCRIPT } from './store-redis.lua'
import { assertCost, assertGroupsRequest, assertLimitRequest } from './store-contract'
import type { Algorithm, GroupsRequest, GroupsResult, LimitRequest, LimitResult, LimitStore, WindowResult } from './types'

/** The ioredis command name the script is defined under (EVALSHA, NOSCRIPT → EVAL). */
const COMMAND = 'tollgateLimitCheck'

/** How long a check waits for Redis by default (`redis.timeout`). */
const DEFAULT_TIMEOUT_MS = 250

const ALGORITHM_CODE: Record<Algorithm, string> = { gcra: 'g', fixed: 'f', sliding: 's' }

type CheckCommand = (numberOfKeys: number, ...keysAndArgs: string[]) => Promise<unknown>

/**
 * `tollgate:{<subject>}:<scope>`. The hash tag puts every key of one subject in one
 * cluster slot, which a multi-key script needs. `%`, `{` and `}` in the subject are
 * percent-encoded so the tag ends where we mean it to and two subjects never share a key.
 */
export function limitKey (subject: string, scope: string): string {
  return `tollgate:{${subject.replace(/[%{}]/g, escapeChar)}}:${scope}`
}

/**
 * `tollgate:{<tag>}:<length>:<subject>:<scope>`: a multi-subject call's keys share the
 * tag's slot. The subject is length-prefixed, so no (subject, scope) pair spells another.
 */
export function groupKey (tag: string, subject: string, scope: string): string {
  return `tollgate:{${tag.replace(/[%{}]/g, escapeChar)}}:${subject.length}:${subject}:${scope}`
}

function escapeChar (c: string): string {
  return `%${c.charCodeAt(0).toString(16).toUpperCase()}`
}

/**
 * Limits shared by every replica through one Redis: one script, one round trip per check,
 * Redis server time. The algorithms and the stored state are described in
 * store-redis.lua.ts.
 */
export class RedisLimitStore implements LimitStore {
  private readonly run: CheckCommand
  private readonly timeoutMs: number

  /**
   * @param redis created, configured (offline queue, reconnects) and owned by the caller:
   *   `close()` does not quit it. A Cluster works too: a request's keys share one slot.
   * @param options.timeoutMs how long a check waits for Redis' answer. Default 250 ms.
   *   The store owns this timeout, not the client: see deadline.ts for why.
   */
  constructor (redis: Redis | Cluster, options: { timeoutMs?: number } = {}) {
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS
    redis.defineCommand(COMMAND, { lua: CHECK_SCRIPT })
    // defineCommand adds the method at run time; ioredis cannot type it.
    const command = (redis as unknown as Record<string, CheckCommand | undefined>)[COMMAND]
    if (command === undefined) throw new Error(`ioredis did not define the ${COMMAND} command`)
    this.run = command.bind(redis)
  }

  /**
   * The script's per-window arguments, built (and the windows validated) once per
   * windows list: a config snapshot reuses the same lists for every request.
   */
  private readonly prepared = new WeakMap<LimitRequest['windows'], string[]>()

  /**
   * Rejects with a `RedisFailure` when Redis fails (its `cause` is the ioredis error);
   * the caller decides allow or deny. A request no store can evaluate rejects with an
   * `InvalidLimitRequestError` before Redis is asked.
   */
  async check (request: LimitRequest): Promise<LimitResult> {
    const { subject, windows, cost } = request
    let args = this.prepared.get(windows)
    if (args === undefined) {
      assertLimitRequest(request)
      args = windows.flatMap((w) => [String(w.max), String(w.perMs), ALGORITHM_CODE[w.algorithm]])
      this.prepared.set(windows, args)
    } else {
      assertCost(cost)
    }
    const keys = windows.map((w) => limitKey(subject, w.scope))
    const command = request.dryRun === true
      ? this.run(keys.length, ...keys, String(cost), ...args, 'd')
      : this.run(keys.length, ...keys, String(cost), ...args)
    const reply = await answerWithin(command.catch(asRedisFailure), this.timeoutMs)
    return parseReply(reply, windows.length)
  }

  /**
   * One script call for every group: the script only sees a list of windows, so the
   * groups are laid end to end and the reply cut back into groups. Advisory windows go
   * with their algorithm code in upper case. Not cached like `check`'s arguments: the
   * groups of an Envoy request are built per call.
   */
  async checkGroups (request: GroupsRequest): Promise<GroupsResult> {
    assertGroupsRequest(request)
    const { tag, groups, cost } = request
    const keys: string[] = []
    const args: string[] = []
    for (const g of groups) {
      for (const w of g.windows) {
        keys.push(groupKey(tag, g.subject, w.scope))
        const code = ALGORITHM_CODE[w.algorithm]
        args.push(String(w.max), String(w.perMs), g.advisory === true ? code.toUpperCase() : code)
      }
    }
    if (keys.length === 0) return { allowed: true, groups: groups.map(() => ({ allowed: true, windows: [] })) }
    const reply = await answerWithin(this.run(keys.length, ...keys, String(cost), ...args).catch(asRedisFailure), this.timeoutMs)
    const all = parseReply(reply, keys.length)
    let next = 0
    return {
      allowed: all.allowed,
      groups: groups.map((g) => {
        const windows = all.windows.slice(next, next + g.windows.length)
        next += g.windows.length
        return { allowed: windows.every((w) => w.allowed), windows }
      }),
    }
  }

  /** Nothing to release: the connection belongs to the caller, who quits it. */
  async close (): Promise<void> {}
}

/**
 * Whatever ioredis rejects a command with is Redis' doing: an error reply (`ReplyError`:
 * OOM, BUSY, READONLY...) or a connection that is closed, not writeable or refused.
 */
function asRedisFailure (error: unknown): never {
  if (error instanceof ReplyError) throw new RedisFailure('other', 'redis answered with an error', error)
  throw new RedisFailure('connection', 'redis is not reachable', error)
}

function parseReply (reply: unknown, count: number): LimitResult {
  if (!Array.isArray(reply) || reply.length !== 1 + 3 * count) throw new UnexpectedReplyError(reply)
  const windows: WindowResult[] = []
  for (let i = 1; i < reply.length; i += 3) {
    windows.push({ allowed: reply[i] === 1, remaining: reply[i + 1], resetMs: reply[i + 2] })
  }
  return { allowed: reply[0] === 1, windows }
}
