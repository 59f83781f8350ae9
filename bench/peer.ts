import Fastify from 'fastify'
import proxy from '@fastify/http-proxy'
import rateLimit from '@fastify/rate-limit'
import Redis from 'ioredis'

/**
 * The peer tollgate is measured against: what a user writes instead of a sidecar, a
 * Fastify 5 proxy with @fastify/rate-limit on Redis, keyed by `x-api-key`, logger off.
 * `node test/helpers/run-ts.js bench/peer.ts UPSTREAM_URL REDIS_URL` prints `LISTENING <port>`.
 */

async function main (): Promise<void> {
  const [upstream = 'http://127.0.0.1:3000', redis = 'redis://127.0.0.1:6379'] = process.argv.slice(2)
  const app = Fastify({ logger: false })
  // One huge window: the bench measures the cost of a check that allows.
  await app.register(rateLimit, { max: 1_000_000_000, timeWindow: 3_600_000, redis: new Redis(redis), keyGenerator: (request) => String(request.headers['x-api-key']) })
  await app.register(proxy, { upstream })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const address = app.server.address()
  process.stdout.write(`LISTENING ${typeof address === 'object' && address !== null ? address.port : 0}\n`)
}

main().catch((error: unknown) => {
  process.stderr.write(`peer: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`)
  process.exit(1)
})
