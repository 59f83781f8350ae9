import type { Socket } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyInstance } from 'fastify'
import type { Logger } from '../observe'

export interface ShutdownTiming {
  /** Keep serving this long after the signal, so load balancers see readiness fail. */
  readonly drainDelayMs: number
  /** Then this long for requests in flight; at the end what is left is cut. */
  readonly graceMs: number
}

/**
 * Whether the drain has begun. Made before the listeners, which read it on every
 * response (readiness, `connection: close`, gRPC health); only `Shutdown.run` sets it.
 */
export class Draining {
  #on = false

  get on (): boolean {
    return this.#on
  }

  begin (): void {
    this.#on = true
  }
}

export interface ShutdownDeps {
  readonly log: Logger
  readonly draining: Draining
  readonly proxy: FastifyInstance
  readonly admin: FastifyInstance
  /** Read when the signal comes, so a reloaded `shutdown` section applies. */
  readonly timing: () => ShutdownTiming
  /** Proxy requests answered so far; the difference is the drain's count. */
  readonly answered: () => Promise<number>
  /** Closes what the proxy used once it is closed: upstream pool, stores, Redis, timers; the admin listener last. */
  readonly release: () => Promise<void>
  /** The decision API's own listener (`listen.decision`), drained like the proxy. */
  readonly decision?: FastifyInstance
  /** The gRPC listener (`listen.grpc`), drained beside the proxy and cut with it. */
  readonly grpc?: { close: () => Promise<void>, cutAll: () => number }
  /** stdin is a terminal: a SIGINT is someone's Ctrl-C, not an orchestrator. Default: false. */
  readonly interactive?: boolean
}

/** Thrown when the deadline passes: the caller exits non-zero. */
export class DeadlineError extends Error {
  constructor (readonly cut: number) {
    super(`shutdown deadline passed: cut ${cut} connection(s)`)
    this.name = 'DeadlineError'
  }
}

/**
 * The drain on SIGTERM (README, "Shutting down"): readiness turns 503 at once (`draining`),
 * the proxy keeps serving for `drain_delay` (every response now says
 * `connection: close`: see the proxy's `draining`), then stops accepting and closes idle keep-alive sockets while
 * requests in flight finish; then the upstream pool and Redis close, and the admin
 * listener last, so `/metrics` and `/health/*` answer to the end. The hard deadline is
 * `drain_delay + grace` after the signal: what is left is destroyed and counted.
 */
export class Shutdown {
  readonly #deps: ShutdownDeps
  readonly #sockets = new Set<Socket>()

  constructor (deps: ShutdownDeps) {
    this.#deps = deps
    for (const listener of [deps.proxy, deps.decision]) {
      listener?.server.on('connection', (socket: Socket) => {
        this.#sockets.add(socket)
        socket.once('close', () => this.#sockets.delete(socket))
      })
    }
  }

  /** Runs the whole drain; rejects with `DeadlineError` when the deadline cut it short. */
  async run (reason: { signal?: string, err?: Error }): Promise<void> {
    const { log, admin, release, answered } = this.#deps
    const timing = this.#deps.timing()
    const { graceMs } = timing
    const drainDelayMs = this.#skipsDrainDelay(reason.signal) ? 0 : timing.drainDelayMs
    const started = Date.now()
    const before = await answered()
    this.#deps.draining.begin()
    if (reason.err !== undefined) log.fatal({ err: reason.err }, 'fatal error: shutting down')
    log.info({ signal: reason.signal, drainDelayMs, graceMs, connections: this.#sockets.size }, 'shutting down: readiness is 503, still serving for drain_delay')

    let deadline: NodeJS.Timeout | undefined
    const cut = new Promise<never>((_resolve, reject) => {
      deadline = setTimeout(() => reject(new DeadlineError(this.cutAll())), drainDelayMs + graceMs)
      deadline.unref()
    })
    // Once only, whichever path gets there first: the deadline may pass while it runs.
    let released: Promise<void> | undefined
    const releaseOnce = async (): Promise<void> => { await (released ??= release()) }
    try {
      // The release is inside the deadline: closing the upstream pool waits for its
      // requests, and one whose client has gone runs on until the upstream answers.
      await Promise.race([this.#drain(drainDelayMs).then(releaseOnce), cut])
    } catch (error) {
      if (error instanceof DeadlineError) {
        log.error({ cut: error.cut, afterMs: Date.now() - started }, `shutdown deadline: cut ${error.cut} connection(s) still open`)
        await Promise.race([releaseOnce(), sleep(1000)])
        await admin.close()
      }
      throw error
    } finally {
      clearTimeout(deadline)
    }
    await admin.close()
    log.info({ drained: (await answered()) - before, ms: Date.now() - started }, 'tollgate stopped: drained')
  }

  /**
   * drain_delay is there for load balancers to see readiness fail before the port
   * closes, so SIGTERM always waits it out: even with no connection open, new ones may
   * still be routed here. A SIGINT is Ctrl-C at a terminal, or a SIGINT to a process no
   * client is connected to: nobody to wait for, so the drain starts at once (requests
   * in flight still finish within grace).
   */
  #skipsDrainDelay (signal: string | undefined): boolean {
    return signal === 'SIGINT' && (this.#deps.interactive === true || this.#sockets.size === 0)
  }

  async #drain (drainDelayMs: number): Promise<void> {
    const { log, proxy, decision, grpc } = this.#deps
    await sleep(drainDelayMs)
    log.info({ connections: this.#sockets.size }, 'drain delay over: closing the proxy listener, finishing requests in flight')
    // Stops accepting, closes idle keep-alive sockets, resolves when in-flight requests are done.
    await Promise.all([proxy.close(), decision?.close(), grpc?.close()])
  }

  /** Destroys every proxy and decision socket still open (and gRPC's); returns how many. */
  cutAll (): number {
    const count = this.#sockets.size + (this.#deps.grpc?.cutAll() ?? 0)
    for (const socket of this.#sockets) socket.destroy()
    this.#sockets.clear()
    return count
  }
}
