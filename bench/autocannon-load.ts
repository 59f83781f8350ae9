import autocannon from 'autocannon'
import { PERCENTILES, percentileOf, type LoadRequest, type LoadRun } from './load'

/**
 * Load from autocannon, inside the bench process. Used for the fixed-rate rows
 * (`overallRate`: wrk cannot hold a rate, and wrk2 is not packaged in Debian) and for
 * every row when wrk is not installed. Its own CPU is the bench process's, never the
 * proxy's, but it competes with the proxy for the two cores.
 */

export async function autocannonLoad (request: LoadRequest): Promise<LoadRun> {
  const path = new URL(request.url).pathname
  const requests: autocannon.Request[] = request.keys.map((key) => ({ method: 'GET', path, headers: { ...request.headers, [request.keyHeader ?? 'x-api-key']: key } }))
  let latencies = new Float64Array(1 << 16)
  let count = 0
  const statuses = new Map<number, number>()
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const options: autocannon.Options = {
      url: request.url,
      connections: request.connections,
      duration: request.seconds,
      pipelining: 1,
      timeout: 5,
      requests,
      ...(request.rate === undefined ? {} : { overallRate: request.rate })
    }
    const tracker = autocannon(options, (error, res) => {
      if (error !== null) reject(error)
      else resolve(res)
    })
    tracker.on('response', (_client: unknown, statusCode: number, _bytes: number, responseTime: number) => {
      if (count === latencies.length) {
        const bigger = new Float64Array(latencies.length * 2)
        bigger.set(latencies)
        latencies = bigger
      }
      latencies[count++] = responseTime
      statuses.set(statusCode, (statuses.get(statusCode) ?? 0) + 1)
    })
  })
  const sorted = latencies.slice(0, count).sort()
  return {
    responses: count,
    seconds: result.duration,
    statuses,
    // autocannon counts timeouts among its errors.
    errors: result.errors,
    latency: PERCENTILES.map((p) => [p, percentileOf(sorted, p)])
  }
}
