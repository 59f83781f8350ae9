import Fastify from 'fastify'
import replyFrom from '@fastify/reply-from'

/**
 * Reference stack for the forwarding-layer choice: a minimal Fastify proxy forwarding
 * every request with @fastify/reply-from (its default undici agent), streaming both
 * ways, adding x-forwarded-for like tollgate's forwarder. No limits, no logging.
 * `node test/helpers/run-ts.js bench/reference-reply-from.ts UPSTREAM_URL` prints
 * `LISTENING <port>`.
 */

const upstream = process.argv[2] ?? 'http://127.0.0.1:3000'

async function main (): Promise<void> {
  const app = Fastify({ logger: false })
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', (_request, _payload, done) => { done(null) })

  await app.register(replyFrom, {
    base: upstream,
    undici: { keepAliveTimeout: 4000, headersTimeout: 30_000, bodyTimeout: 30_000 }
  })

  app.all('*', (request, reply) => {
    return reply.from(request.url, {
      rewriteRequestHeaders: (original, headers) => ({ ...headers, 'x-forwarded-for': original.socket.remoteAddress ?? '' })
    })
  })

  await app.listen({ host: '127.0.0.1', port: 0 })
  const address = app.server.address()
  process.stdout.write(`LISTENING ${typeof address === 'object' && address !== null ? address.port : 0}\n`)
}

main().catch((error: unknown) => {
  process.stderr.write(`reference-reply-from: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`)
  process.exit(1)
})
