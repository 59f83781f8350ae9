// The part of autocannon@8 that bench/autocannon-load.ts uses. autocannon ships no types and
// @types/autocannon is not installed (no packages are added for the bench).
declare module 'autocannon' {
  import type { EventEmitter } from 'node:events'

  namespace autocannon {
    interface Request {
      method?: string
      path?: string
      headers?: Record<string, string>
      body?: string
    }

    interface Options {
      url: string
      connections?: number
      /** Seconds. */
      duration?: number
      pipelining?: number
      /** Seconds before a request counts as a timeout. */
      timeout?: number
      method?: string
      headers?: Record<string, string>
      /** Cycled through in order by every connection. */
      requests?: Request[]
      /** Requests per second over all connections. */
      overallRate?: number
    }

    interface Histogram {
      average: number
      mean: number
      stddev: number
      min: number
      max: number
      total: number
      p50: number
      p99: number
    }

    interface Result {
      duration: number
      errors: number
      timeouts: number
      non2xx: number
      resets: number
      '1xx': number
      '2xx': number
      '3xx': number
      '4xx': number
      '5xx': number
      statusCodeStats: Record<string, { count: number }>
      latency: Histogram
      requests: Histogram & { sent: number }
      throughput: Histogram
    }

    /** Emits `response` (client, statusCode, resBytes, responseTimeMs) for every response. */
    type Tracker = EventEmitter
  }

  function autocannon (options: autocannon.Options, callback: (error: Error | null, result: autocannon.Result) => void): autocannon.Tracker

  export = autocannon
}
