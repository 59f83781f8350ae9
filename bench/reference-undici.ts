import type { IncomingHttpHeaders } from 'node:http'
import Fastify from 'fastify'
import { Pool, type Dispatcher } from 'undici'

/**
 * Reference stack for the forwarding-layer choice: a minimal Fastify proxy forwarding
 * every request through one undici keep-alive `Pool`, streaming both ways, with the
 * same header handling as tollgate's forwarder (hop-by-hop dropped, x-forwarded-for).
 * No limits, no logging. `node test/helpers/run-ts.js bench/reference-undici.ts UPSTREAM_URL`
 * prints `LISTENING <port>`.
 */

const upstream = new URL(process.argv[2] ?? 'http://127.0.0.1:3000')
const pool = new Pool(upstream.origin, { keepAliveTimeout: 4000, headersTimeout: 30_000, bodyTimeout: 30_000 })

const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization',
  'te', 'trailer', 'transfer-encoding', 'upgrade', 'expect', 'host'
])

function endToEnd (headers: IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {}
  for (const name in headers) {
    const value = headers[name]
    if (value !== undefined && !HOP_BY_HOP.has(name)) out[name] = value
  }
  return out
}

async function main (): Promise<void> {
  const app = Fastify({ logger: false })
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', (_request, _payload, done) => { done(null) })

  app.all('*', async (request, reply) => {
    const incoming = request.raw.headers
    const headers = endToEnd(incoming)
    headers['x-forwarded-for'] = request.raw.socket.remoteAddress ?? ''
    const hasBody = incoming['transfer-encoding'] !== undefined ||
      (incoming['content-length'] !== undefined && incoming['content-length'] !== '0')
    const response = await pool.request({
      method: request.method as Dispatcher.HttpMethod,
      path: request.url,
      headers,
      body: hasBody ? request.raw : null
    })
    reply.code(response.statusCode).headers(endToEnd(response.headers))
    return reply.send(response.body)
  })

  await app.listen({ host: '127.0.0.1', port: 0 })
  const address = app.server.address()
  process.stdout.write(`LISTENING ${typeof address === 'object' && address !== null ? address.port : 0}\n`)
}

main().catch((error: unknown) => {
  process.stderr.write(`reference-undici: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`)
  process.exit(1)
})
