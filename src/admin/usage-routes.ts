import type { FastifyInstance } from 'fastify'
import { TollgateError } from '../errors'
import type { Runtime } from '../limits'
import { stored } from './controls-routes'
import { clientUsage, fullness, type ClientUsage } from './usage'

/**
 * How many of the most recent spenders `top` looks at: each costs one read-only script
 * call, so this bounds what one `GET /v1/usage?top=` costs Redis.
 */
export const TOP_CANDIDATES = 1000
const MAX_TOP = 100
const DEFAULT_TOP = 20
/** Script calls in flight at once for `top`: ioredis pipelines them; more would only queue. */
const TOP_CONCURRENCY = 50

interface TopQuery { Querystring: { plan?: string, top?: string } }

async function mapBounded<T, R> (items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = []
  for (let i = 0; i < items.length; i += limit) out.push(...await Promise.all(items.slice(i, i + limit).map(fn)))
  return out
}

export function registerUsageRoutes (admin: FastifyInstance, deps: { readonly currentRuntime: () => Runtime }): void {
  admin.get<{ Params: { client: string } }>('/v1/usage/:client', async (request) => await clientUsage(deps.currentRuntime(), request.params.client))

  admin.get<TopQuery>('/v1/usage', async (request) => {
    const runtime = deps.currentRuntime()
    const { plan } = request.query
    const top = request.query.top === undefined ? DEFAULT_TOP : Number(request.query.top)
    if (!Number.isSafeInteger(top) || top < 1 || top > MAX_TOP) throw new TollgateError('bad_request', {}, `top must be an integer from 1 to ${MAX_TOP}`)
    if (plan !== undefined && runtime.config.plans[plan] === undefined) {
      throw new TollgateError('bad_request', { plan }, `"${plan}" is not a plan of the config`)
    }
    const planOf = new Map(runtime.config.keys.map((k) => [k.name, k.plan]))
    // Recent spenders only, from a bounded set: never a scan of every key in Redis.
    const recent = await stored(runtime.controls.recentSpenders(TOP_CANDIDATES))
    const candidates = recent.filter((client) => planOf.has(client) && (plan === undefined || planOf.get(client) === plan))
    const usages: ClientUsage[] = await mapBounded(candidates, TOP_CONCURRENCY, async (client) => await clientUsage(runtime, client))
    const ranked = usages
      .map((usage) => ({ ...usage, fullness: Math.round(fullness(usage) * 1000) / 1000 }))
      .sort((a, b) => b.fullness - a.fullness)
      .slice(0, top)
    return { plan: plan ?? null, candidates: candidates.length, clients: ranked }
  })
}
