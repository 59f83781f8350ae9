import type { IncomingHttpHeaders, OutgoingHttpHeaders, ServerResponse } from 'node:http'
import type { Dispatcher } from 'undici'

/**
 * An undici dispatch handler that writes the app's response straight into the client's
 * `ServerResponse`: status and headers in one `writeHead`, each body chunk as it comes,
 * with backpressure both ways (a slow client pauses the upstream socket). No stream is
 * built between the two, which was the largest cost of the forward in the profile
 * (bench/RESULTS.md).
 *
 * `started` settles once: resolved when the response head is written (from then on the
 * response belongs to this handler), rejected with undici's error when the app gave no
 * response, so the caller can still answer with a JSON error of its own.
 */
export class ReplyWriter implements Dispatcher.DispatchHandler {
  readonly started: Promise<void>
  readonly #res: ServerResponse
  readonly #head: (statusCode: number, headers: IncomingHttpHeaders) => OutgoingHttpHeaders
  #resolve: () => void = () => {}
  #reject: (error: Error) => void = () => {}
  #controller: Dispatcher.DispatchController | undefined
  #writing = false
  /** The client left before the response ended. */
  #gone = false

  /**
   * @param head the headers the client gets, from the app's status and headers; called
   *   right before they are written, the moment the response head is committed.
   * @param onHeadWritten called once the head is written (e.g. to hijack the Fastify reply).
   */
  constructor (res: ServerResponse, head: (statusCode: number, headers: IncomingHttpHeaders) => OutgoingHttpHeaders, onHeadWritten: () => void) {
    this.#res = res
    this.#head = head
    this.started = new Promise<void>((resolve, reject) => {
      this.#resolve = () => { onHeadWritten(); resolve() }
      this.#reject = reject
    })
    // A client that leaves before the app answers must not keep the app working for no
    // one, nor hold the upstream pool open through a shutdown.
    res.once('close', () => {
      if (res.writableFinished) return
      this.#gone = true
      this.#controller?.abort(new Error('the client closed the connection'))
    })
  }

  onRequestStart (controller: Dispatcher.DispatchController): void {
    this.#controller = controller
    if (this.#gone) controller.abort(new Error('the client closed the connection'))
  }

  onResponseStart (_controller: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders): void {
    // 1xx are interim (103 Early Hints): the final response follows.
    if (statusCode < 200) return
    this.#writing = true
    this.#res.writeHead(statusCode, this.#head(statusCode, headers))
    this.#resolve()
  }

  onResponseData (controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.#res.write(chunk)) return
    controller.pause()
    this.#res.once('drain', () => { controller.resume() })
  }

  onResponseEnd (): void {
    this.#res.end()
  }

  onResponseError (_controller: Dispatcher.DispatchController, error: Error): void {
    // Before the head, the caller answers; after it, the status is sent and only cutting
    // the connection tells the client the body is incomplete.
    if (this.#writing) this.#res.destroy(error)
    else this.#reject(error)
  }
}
