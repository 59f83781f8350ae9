import closeWithGrace from 'close-with-grace'
import type { Logger } from '../observe'
import { DeadlineError, type Shutdown } from './shutdown'

export interface SignalsOptions {
  readonly log: Logger
  /** SIGHUP: reload the config. Default: SIGHUP is left alone. */
  readonly onSighup?: () => void
}

/**
 * The process signals. close-with-grace owns SIGTERM, SIGINT and uncaught errors, and
 * the exit code (0 after a drain, 1 after an error or the deadline); the deadline is
 * the Shutdown's, read from the live config when the signal comes. Made before the
 * Shutdown and installed once it exists, so the cleanup that the Shutdown runs can
 * also uninstall them (after a failed listen, close-with-grace would exit 0 on
 * `beforeExit`).
 */
export class Signals {
  readonly #options: SignalsOptions
  #uninstall: (() => void) | undefined

  constructor (options: SignalsOptions) {
    this.#options = options
  }

  install (shutdown: Shutdown): void {
    const { log, onSighup } = this.#options
    const flushed = async (): Promise<void> => { await new Promise<void>((resolve) => { log.flush(() => resolve()) }) }
    const { uninstall } = closeWithGrace({
      delay: false,
      // SIGHUP reloads; close-with-grace would treat it as a shutdown.
      skip: ['SIGHUP'],
      logger: { error: (message: unknown) => { if (!(message instanceof DeadlineError)) log.error({ err: message }, 'shutdown failed') } },
      onSecondSignal: (signal) => {
        log.error({ signal, cut: shutdown.cutAll() }, 'second signal: cutting every connection and exiting')
      }
    }, async ({ signal, err }) => {
      try {
        await shutdown.run({ signal, err })
      } finally {
        await flushed()
      }
    })
    if (onSighup !== undefined) process.on('SIGHUP', onSighup)
    this.#uninstall = () => {
      uninstall()
      if (onSighup !== undefined) process.off('SIGHUP', onSighup)
    }
  }

  /** Removes every handler `install` added; nothing before it. Inside a drain it leaves the second-signal handler. */
  uninstall (): void {
    this.#uninstall?.()
    this.#uninstall = undefined
  }
}
