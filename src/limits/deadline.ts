import { RedisTimeoutError } from './store-errors'

/**
 * `reply`, or a `RedisTimeoutError` once `timeoutMs` have passed with no answer.
 *
 * Why not ioredis' `commandTimeout`: it is a plain timer, and timers run before the poll
 * phase that reads sockets. When a burst keeps the event loop busy past the timeout, the
 * timer fires for replies that already sit in the socket buffer, unread: a healthy
 * Redis looks dead, and under `on_redis_error: allow` every such request went through.
 * Here the timer only arms a `setImmediate`, which runs after the next poll phase: any
 * reply that has arrived by then is read (and settles `reply`) first, so what is left
 * is a command Redis truly did not answer in time.
 */
export async function answerWithin<T> (reply: Promise<T>, timeoutMs: number): Promise<T> {
  return await new Promise<T>((resolve, reject) => {
    let settled = false
    const timer = setTimeout(() => {
      setImmediate(() => {
        if (settled) return
        settled = true
        reject(new RedisTimeoutError(timeoutMs))
      })
    }, timeoutMs)
    reply.then((value) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      resolve(value)
    }, (error: unknown) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      reject(error)
    })
  })
}
