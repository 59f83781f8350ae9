import { get, send, type TextResponse } from '../helpers/http'
import { KEYS } from './prometheus-e2e-config'

// Shared by prometheus-e2e.test.ts: the traffic that fills the dashboard's panels while
// Prometheus scrapes.

/** How long traffic flows before the first query: several scrapes, so rates have samples. */
export const TRAFFIC_MS = 6000
/** Between batches of traffic. */
const TICK_MS = 100

/** The statuses the traffic must have produced for the panels to have something to show. */
export const EXPECTED_STATUSES = [200, 302, 401, 429, 503]

/**
 * Sends a batch every TICK_MS until `stop()`: per batch alpha asks 3 times (30/s
 * against 5/s), beta uploads twice (40 units/s against 20/s), gamma asks for a page, a
 * redirect and a path the app fails with 503, an unknown key asks once (401), and
 * every 5th batch a /healthz (not limited, no key) goes through.
 */
export function driveTraffic (proxyUrl: string): { statuses: Map<number, number>, error: () => Error | undefined, stop: () => Promise<void> } {
  const statuses = new Map<number, number>()
  let stopped = false
  let failure: Error | undefined
  const count = (res: TextResponse): void => { statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1) }
  const alpha = { 'x-api-key': KEYS.alpha }
  const beta = { authorization: `Bearer ${KEYS.beta}` }
  const gamma = { 'x-api-key': KEYS.gamma }
  const loop = (async () => {
    for (let tick = 0; !stopped; tick++) {
      const started = Date.now()
      const batch = [
        get(`${proxyUrl}/items`, alpha),
        get(`${proxyUrl}/items/2`, alpha),
        get(`${proxyUrl}/items/3`, alpha),
        send('POST', `${proxyUrl}/upload/a`, beta, 'data'),
        send('POST', `${proxyUrl}/upload/b`, beta, 'data'),
        get(`${proxyUrl}/items`, gamma),
        get(`${proxyUrl}/status/302`, gamma),
        get(`${proxyUrl}/status/503`, gamma),
        get(`${proxyUrl}/items`, { 'x-api-key': 'not-a-configured-key' })
      ]
      if (tick % 5 === 0) batch.push(get(`${proxyUrl}/healthz`))
      for (const res of await Promise.all(batch)) count(res)
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, TICK_MS - (Date.now() - started))))
    }
  })().catch((err: unknown) => {
    // A request that got no answer at all: reported by the traffic check, not thrown
    // from a loop nobody awaits yet.
    failure = err instanceof Error ? err : new Error(String(err))
  })
  return {
    statuses,
    error: () => failure,
    stop: async () => {
      stopped = true
      await loop
    }
  }
}
