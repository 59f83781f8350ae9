import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'

/**
 * The app behind the proxy, for the bench: a bare node:http server that answers every
 * request with the same small JSON body. Runs in its own process so its CPU is not
 * counted with the load generator's or the proxy's. Prints `LISTENING <port>`.
 */

const BODY = Buffer.from(JSON.stringify({ ok: true, service: 'bench-upstream', items: [1, 2, 3], note: 'a small JSON body' }))
const HEADERS = { 'content-type': 'application/json; charset=utf-8', 'content-length': String(BODY.length) }

const server = createServer((req, res) => {
  const answer = (): void => {
    res.writeHead(200, HEADERS)
    res.end(BODY)
  }
  if (req.complete) {
    answer()
    return
  }
  req.on('error', () => {})
  req.resume()
  req.once('end', answer)
})
// Longer than the proxies' pool keep-alive (4 s), so the upstream never closes a socket a pool is about to reuse.
server.keepAliveTimeout = 65_000

server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`LISTENING ${(server.address() as AddressInfo).port}\n`)
})
