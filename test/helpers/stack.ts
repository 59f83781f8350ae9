import type { Test } from 'tap'
import { startTollgate, type Tollgate } from './child'
import type { TextResponse } from './http'
import { startRedis } from './redis'
import { startUpstream, type Upstream } from './upstream'

/** Listeners on ports the OS picks; the child logs them. */
export const LISTEN = 'listen: { proxy: 127.0.0.1:0, admin: 127.0.0.1:0 }'

export interface Stack { upstream: Upstream, tollgate: Tollgate, redisUrl: string }

/**
 * A redis-server, an upstream and one tollgate (the real CLI) in front of it; `body`
 * writes the rest of the config from the upstream's and Redis' URLs.
 */
export async function stack (t: Test, body: (upstream: string, redis: string) => string): Promise<Stack> {
  const redis = await startRedis(t)
  const upstream = await startUpstream(t)
  const tollgate = await startTollgate(t, { configYaml: `${LISTEN}\n${body(upstream.url, redis.url)}` })
  return { upstream, tollgate, redisUrl: redis.url }
}

/** How many requests under `path` reached the app. */
export const forwarded = (upstream: Upstream, path: string): number => upstream.requests.filter((r) => r.url.startsWith(path)).length

export async function burst (n: number, request: () => Promise<TextResponse>): Promise<TextResponse[]> {
  return await Promise.all(Array.from({ length: n }, request))
}
