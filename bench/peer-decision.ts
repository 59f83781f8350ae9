import Fastify from 'fastify'
import rateLimit from '@fastify/rate-limit'
import Redis from 'ioredis'

/**
 * The peer of the decision API: what a user writes instead, a Fastify 5 route with
 * @fastify/rate-limit on Redis, keyed by `x-api-key`, answering 200 itself (nothing
 * forwarded), logger off. `node test/helpers/run-ts.js bench/peer-decision.ts REDIS_URL`
 * prints `LISTENING <port>`.
 */

async function main (): Promise<void> {
  const [redis = 'redis://127.0.0.1:6379'] = process.argv.slice(2)
  const app = Fastify({ logger: false })
  // One huge window: the bench measures the cost of a check that allows.
  await app.register(rateLimit, { max: 1_000_000_000, timeWindow: 3_600_000, redis: new Redis(redis), keyGenerator: (request) => String(request.headers['x-api-key']) })
  app.all('/v1/authorize', async (_request, reply) => await reply.code(200).send())
  app.all('/v1/authorize/*', async (_request, reply) => await reply.code(200).send())
  await app.listen({ host: '127.0.0.1', port: 0 })
  const address = app.server.address()
  process.stdout.write(`LISTENING ${typeof address === 'object' && address !== null ? address.port : 0}\n`)
}

main().catch((error: unknown) => {
  process.stderr.write(`peer-decision: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`)
  process.exit(1)
})
