/** One look at the upstream: does it answer? Never rejects. */
export type Probe = () => Promise<{ readonly ok: boolean }>

export interface UpstreamProbeOptions {
  readonly probe: Probe
  /** Read before each wait, so a reloaded `upstream_health.interval` applies from the next check. */
  readonly intervalMs: () => number
  /** Each result (`tollgate_upstream_up`). */
  readonly onResult: (up: boolean) => void
}

/**
 * The loop that keeps `tollgate_upstream_up` current: one check now (awaited, so the
 * gauge is right before the first request), then one per interval until `stop()`.
 */
export class UpstreamProbe {
  readonly #options: UpstreamProbeOptions
  #timer: NodeJS.Timeout | undefined
  #stopped = false

  constructor (options: UpstreamProbeOptions) {
    this.#options = options
  }

  /** Runs the first check; resolves once it is done. */
  async start (): Promise<void> {
    await this.#check()
  }

  /** No check after this one, even if one is in flight now. */
  stop (): void {
    this.#stopped = true
    clearTimeout(this.#timer)
  }

  async #check (): Promise<void> {
    const { ok } = await this.#options.probe()
    if (this.#stopped) return
    this.#options.onResult(ok)
    // Re-armed each time rather than an interval: a reloaded interval applies at once.
    this.#timer = setTimeout(() => { void this.#check() }, this.#options.intervalMs())
    this.#timer.unref()
  }
}
