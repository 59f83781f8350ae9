import { diffConfig, RESTART_ONLY, type ConfigChanges } from './diff'
import { parseConfig, textHash } from './load'
import { readConfigText } from './read'
import type { Config } from './schema'
import type { ReloadOutcome } from './vocabulary'
import { messageOf } from '../errors'

/** One config in force and everything built from it, swapped whole on reload. */
export interface Snapshot<T> {
  readonly config: Config
  /** Content hash of the file text this snapshot came from. */
  readonly hash: string
  readonly loadedAt: Date
  readonly state: T
}

/** One member per `RELOAD_RESULTS` word: a word the vocabulary lost would leave `never` here. */
export type ReloadResult =
  | {
    readonly result: Extract<ReloadOutcome, 'success'>
    readonly hash: string
    readonly changes: ConfigChanges
    readonly restartNeeded: readonly string[]
    /** What `check-config` and the start warn about (a key in clear text), for the new file. */
    readonly warnings: readonly string[]
  }
  | { readonly result: Extract<ReloadOutcome, 'unchanged'>, readonly hash: string }
  | { readonly result: Extract<ReloadOutcome, 'failure'>, readonly errors: readonly string[] }

export interface LastReload {
  readonly ok: boolean
  readonly at: Date
  readonly errors?: readonly string[]
}

export interface LiveConfigOptions<T> {
  readonly path: string
  readonly env: Readonly<Record<string, string | undefined>>
  /**
   * Builds the complete state for a new config (limiter, stores, ...). May reuse parts
   * of the previous snapshot. Throwing rejects the reload; the old snapshot stays.
   */
  readonly build: (config: Config, previous: Snapshot<T>) => Promise<T>
  /** Called after every attempt, once the outcome is known (and after the swap). */
  readonly onReload?: (result: ReloadResult, trigger: string, current: Snapshot<T>, previous: Snapshot<T>) => void
}

/**
 * The one swappable reference to the config in force. A reload reads, parses and
 * validates the file (the same checks as `check-config`), builds the whole new state,
 * and only then swaps the reference: a request that started before keeps the snapshot
 * it pinned, one that starts after sees only the new one, and nothing is ever half
 * applied. A rejected file leaves the running snapshot untouched. Reloads run one at a
 * time; a file whose text hash is the one in force is not rebuilt (right after a
 * rejected file it still reports a success: the file is good again).
 */
export class LiveConfig<T> {
  readonly #options: LiveConfigOptions<T>
  #current: Snapshot<T>
  #last: LastReload | undefined
  /** Text hash (or read error) of the last file rejected, so the watch does not report it again and again. */
  #lastRejected: string | undefined
  #queue: Promise<unknown> = Promise.resolve()

  constructor (initial: Snapshot<T>, options: LiveConfigOptions<T>) {
    this.#current = initial
    this.#options = options
  }

  get current (): Snapshot<T> {
    return this.#current
  }

  /** The config in force (`current.config`). */
  get config (): Config {
    return this.#current.config
  }

  /** What was built from the config in force (`current.state`). */
  get state (): T {
    return this.#current.state
  }

  /** The outcome of the last reload that was not `unchanged`; undefined before any. */
  get lastReload (): LastReload | undefined {
    return this.#last
  }

  /**
   * `trigger` names what asked (`watch`, `SIGHUP`, `POST /-/reload`) in logs. `repeat`:
   * report a file that was already rejected once more (an operator asked explicitly);
   * the watch leaves it off, so a broken file is reported once, not at every poll.
   */
  async reload (trigger: string, options: { repeat?: boolean } = {}): Promise<ReloadResult> {
    const run = this.#queue.then(async () => await this.#reload(trigger, options.repeat ?? false))
    this.#queue = run.catch(() => undefined)
    return await run
  }

  async #reload (trigger: string, repeat: boolean): Promise<ReloadResult> {
    const previous = this.#current
    const result = await this.#attempt(previous, repeat)
    if (result.result !== 'unchanged') this.#last = { ok: result.result === 'success', at: new Date(), ...(result.result === 'failure' ? { errors: result.errors } : {}) }
    this.#options.onReload?.(result, trigger, this.#current, previous)
    return result
  }

  async #attempt (previous: Snapshot<T>, repeat: boolean): Promise<ReloadResult> {
    const read = await readConfigText(this.#options.path)
    // A file that cannot be read has no text to hash: its error stands in for it.
    const fingerprint = read.ok ? textHash(read.text) : read.error
    if (!repeat && fingerprint === this.#lastRejected) return { result: 'unchanged', hash: previous.hash }
    // The text in force, read again: the watch calls this on every event of the file's
    // directory (a log written beside it: once per maxWaitMs). Parsing and validating
    // 1,000 keys takes the event loop for tens of ms, so the same text is not parsed again.
    if (fingerprint === previous.hash && this.#last?.ok !== false) return { result: 'unchanged', hash: previous.hash }
    const loaded = read.ok ? parseConfig(read.text, this.#options.env, this.#options.path) : { ok: false as const, errors: [read.error] }
    if (!loaded.ok) {
      this.#lastRejected = fingerprint
      return { result: 'failure', errors: loaded.errors }
    }
    this.#lastRejected = undefined
    if (loaded.hash === previous.hash) {
      // Put back after a rejected file (an editor's undo, the in-place write that was
      // briefly empty): the file is good again, and that must clear the failure.
      if (this.#last?.ok === false) return { result: 'success', hash: loaded.hash, changes: diffConfig(previous.config, previous.config), restartNeeded: [], warnings: loaded.warnings }
      return { result: 'unchanged', hash: loaded.hash }
    }

    // listen and upstream belong to the sockets and pools of this process: keep them.
    const restartNeeded = RESTART_ONLY.filter((key) => JSON.stringify(loaded.config[key]) !== JSON.stringify(previous.config[key]))
    const config: Config = { ...loaded.config, listen: previous.config.listen, upstream: previous.config.upstream }

    let state: T
    try {
      state = await this.#options.build(config, previous)
    } catch (error) {
      // Like a file that does not validate: reported once, not again at every poll
      // (a Redis that does not answer costs each attempt its full wait).
      this.#lastRejected = loaded.hash
      return { result: 'failure', errors: [`${this.#options.path}: cannot apply: ${messageOf(error)}`] }
    }
    this.#current = { config, hash: loaded.hash, loadedAt: new Date(), state }
    return { result: 'success', hash: loaded.hash, changes: diffConfig(previous.config, config), restartNeeded, warnings: loaded.warnings }
  }
}
