import type { FastifyInstance } from 'fastify'
import { messageOf } from '../errors'

/**
 * Health in the shape of the IETF health-check response draft
 * (`application/health+json`): an overall `status` and a `checks` map of components.
 *
 * `/health/live`: 200 whenever the event loop turns; it never looks at Redis or the
 * app, since restarting the sidecar fixes neither.
 * `/health/ready`: 200 only while every required component passes; else 503 naming
 * the failing ones.
 * `/health/full`: every component with status, observed value, time and latency;
 * 503 when a required one fails, else 200 (a `warn` still serves).
 *
 * Components are checked concurrently, each bounded by a timeout, and the result is
 * cached for a second, so a storm of probes cannot turn into a storm on Redis or the app.
 */

export type Status = 'pass' | 'warn' | 'fail'

export interface Observation {
  readonly status: Status
  readonly observedValue?: unknown
  readonly observedUnit?: string
  /** Why it is not `pass`; shown to whoever curls the endpoint. */
  readonly output?: string
}

export interface Component {
  /** The IETF key, `component:measurement`, e.g. `redis:responseTime`. */
  readonly key: string
  /** A failing required component makes the sidecar not ready; others only warn. */
  required (): boolean
  check (): Promise<Observation>
  /** Checked on every request, never cached: e.g. shutdown must turn readiness red at once. */
  readonly live?: boolean
}

export interface CheckResult extends Observation {
  /** `component:measurement`, the key of `checks`. */
  readonly key: string
  readonly componentId: string
  readonly required: boolean
  readonly time: string
  readonly latencyMs: number
}

export interface HealthOptions {
  readonly components: () => readonly Component[]
  /** How long one component may take before it counts as failed. Default 1000 ms. */
  readonly timeoutMs?: number
  /** How long results are reused. Default 1000 ms. */
  readonly cacheMs?: number
  readonly now?: () => number
}

async function withTimeout (component: Component, timeoutMs: number, now: () => number): Promise<CheckResult> {
  const started = now()
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<Observation>((resolve) => {
    timer = setTimeout(() => resolve({ status: 'fail', output: `no answer within ${timeoutMs} ms` }), timeoutMs)
  })
  let observation: Observation
  try {
    observation = await Promise.race([component.check(), timeout])
  } catch (error) {
    observation = { status: 'fail', output: messageOf(error) }
  } finally {
    clearTimeout(timer)
  }
  const required = component.required()
  // A component that is not required never fails the whole: it warns.
  const status = observation.status === 'fail' && !required ? 'warn' : observation.status
  return {
    ...observation,
    status,
    key: component.key,
    componentId: component.key.replace(/:.*/s, ''),
    required,
    time: new Date(now()).toISOString(),
    latencyMs: Math.round((now() - started) * 100) / 100
  }
}

export class Health {
  readonly #options: Required<HealthOptions>
  #cached: { at: number, results: Promise<CheckResult[]> } | undefined

  constructor (options: HealthOptions) {
    this.#options = { timeoutMs: 1000, cacheMs: 1000, now: Date.now, ...options }
  }

  async results (): Promise<CheckResult[]> {
    const { components, timeoutMs, cacheMs, now } = this.#options
    const all = components()
    const at = now()
    // `at < cached.at`: the wall clock stepped back (NTP). Without it the results would
    // stay cached until the clock caught up, minutes or hours later.
    let cached = this.#cached
    if (cached === undefined || at - cached.at >= cacheMs || at < cached.at) {
      const cachedOnes = all.filter((c) => c.live !== true)
      cached = this.#cached = { at, results: Promise.all(cachedOnes.map(async (c) => await withTimeout(c, timeoutMs, now))) }
    }
    const [fromCache, live] = await Promise.all([
      cached.results,
      Promise.all(all.filter((c) => c.live === true).map(async (c) => await withTimeout(c, timeoutMs, now)))
    ])
    return [...fromCache, ...live]
  }
}

function overall (results: readonly CheckResult[]): Status {
  if (results.some((r) => r.status === 'fail')) return 'fail'
  return results.some((r) => r.status === 'warn') ? 'warn' : 'pass'
}

export function registerHealthRoutes (admin: FastifyInstance, health: Health, describe: { version: string }): void {
  admin.get('/health/live', async () => ({ status: 'pass' }))

  admin.get('/health/ready', async (_request, reply) => {
    const failing = (await health.results()).filter((r) => r.status === 'fail').map((r) => r.componentId)
    if (failing.length === 0) return { status: 'pass' }
    return reply.code(503).send({ status: 'fail', failing })
  })

  admin.get('/health/full', async (_request, reply) => {
    const results = await health.results()
    const status = overall(results)
    const checks: Record<string, Array<Omit<CheckResult, 'key'>>> = {}
    for (const { key, ...result } of results) checks[key] = [result]
    return reply
      .code(status === 'fail' ? 503 : 200)
      .type('application/health+json')
      .send({ status, version: describe.version, serviceId: 'tollgate', description: 'tollgate sidecar', checks })
  })
}
