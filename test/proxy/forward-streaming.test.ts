import { createHash } from 'node:crypto'
import { once } from 'node:events'
import { request as httpRequest } from 'node:http'
import type { IncomingMessage } from 'node:http'
import { PassThrough, pipeline, Readable } from 'node:stream'
import { setTimeout as delay } from 'node:timers/promises'
import t from 'tap'
import type { Tollgate } from '../helpers/child'
import { rawRequest } from '../helpers/http'
import { pseudoRandomSha256, pseudoRandomStream } from '../helpers/bytes'
import { bufferOf, deferred, KEY, MB, sha256, startForwarding, within, type Forwarding } from './forward-kit'

// Forwarding streams: each side sees the other's first chunk before the last, and an
// app that reads nothing holds back the client (forward-kit.ts starts the processes).

let tg: Tollgate
let routes: Forwarding['routes']
t.before(async () => { ({ tg, routes } = await startForwarding(t)) })

t.test('the app sees the first request chunk before the client sends the last', async (t) => {
  const firstChunk = deferred()
  routes.set('/stream-in', (req, res) => {
    const hash = createHash('sha256')
    req.on('data', (chunk: Buffer) => {
      hash.update(chunk)
      firstChunk.resolve()
    })
    req.once('end', () => res.end(hash.digest('hex')))
  })
  const body = new PassThrough()
  const answered = rawRequest(`${tg.proxyUrl}/stream-in`, { method: 'POST', headers: { ...KEY, 'content-type': 'application/octet-stream' }, body })
  answered.catch(() => {})
  const one = Buffer.alloc(64 * 1024, 1)
  const two = Buffer.alloc(64 * 1024, 2)
  body.write(one)
  // A proxy that buffers the request would wait for the end that never comes.
  await within(firstChunk.promise, 'the app receiving the first chunk while the upload is open')
  body.end(two)
  const res = await answered
  t.equal(res.statusCode, 200)
  t.equal(await res.body.text(), sha256(Buffer.concat([one, two])))
})

t.test('the client reads the first response chunk before the app writes the last', async (t) => {
  const release = deferred()
  routes.set('/drip', (req, res) => {
    req.resume()
    res.writeHead(200, { 'content-type': 'text/plain' })
    res.write('first\n')
    void release.promise.then(() => res.end('last\n'))
  })
  const res = await within(rawRequest(`${tg.proxyUrl}/drip`, { headers: KEY }), 'the response headers while the body is open')
  t.equal(res.statusCode, 200)
  t.equal(res.headers['content-type'], 'text/plain')
  const reader = res.body[Symbol.asyncIterator]()
  let received = ''
  while (received.length < 'first\n'.length) {
    // A proxy that buffers the response would wait for the end that never comes.
    const next = await within(reader.next() as Promise<IteratorResult<Buffer>>, 'the first chunk while the response is open')
    if (next.done === true) break
    received += String(next.value)
  }
  t.equal(received, 'first\n')
  release.resolve()
  for (let next = await reader.next(); next.done !== true; next = await reader.next()) received += String(next.value)
  t.equal(received, 'first\nlast\n')
})

t.test('while the app reads nothing, tollgate takes in only a bounded part of a 50 MB upload', async (t) => {
  const total = 50 * MB
  const arrived = deferred()
  const release = deferred()
  routes.set('/stalled', (req, res) => {
    arrived.resolve()
    void release.promise.then(() => {
      const hash = createHash('sha256')
      let bytes = 0
      req.on('data', (chunk: Buffer) => {
        hash.update(chunk)
        bytes += chunk.length
      })
      req.once('end', () => res.end(JSON.stringify({ bytes, sha256: hash.digest('hex') })))
    })
  })
  const client = httpRequest({
    host: '127.0.0.1',
    port: new URL(tg.proxyUrl).port,
    method: 'POST',
    path: '/stalled',
    headers: { ...KEY, 'content-type': 'application/octet-stream', 'content-length': total },
    agent: false
  })
  t.teardown(() => client.destroy())
  const responded = new Promise<IncomingMessage>((resolve, reject) => {
    client.once('response', resolve)
    client.once('error', reject)
  })
  responded.catch(() => {})

  // Write until the pipe stays full for half a second: what tollgate took in by then
  // sits in kernel socket buffers and in tollgate's own memory.
  const chunks = pseudoRandomStream(total)[Symbol.asyncIterator]() as AsyncIterator<Buffer>
  let written = 0
  for (let next = await chunks.next(); next.done !== true; next = await chunks.next()) {
    written += next.value.length
    if (!client.write(next.value)) {
      const drained = await Promise.race([once(client, 'drain').then(() => true), delay(500).then(() => false)])
      if (!drained) break
    }
  }
  await within(arrived.promise, 'the app receiving the request')
  // Both hops' kernel socket buffers (9-13 MB in all, measured here) plus a few
  // stream chunks, and on a busy machine what trickles in while each 500 ms drain
  // wait runs (30.2 MB seen once): under 40 MB. A proxy that buffers the body, or
  // reads it faster than the app takes it, swallows all 50 MB.
  t.ok(written < 40 * MB, `the client got ${(written / MB).toFixed(1)} MB of 50 MB written before the pipe filled up`)

  release.resolve()
  pipeline(Readable.from({ [Symbol.asyncIterator]: () => chunks }), client, () => {})
  const res = await within(responded, 'the response once the app reads')
  t.equal(res.statusCode, 200)
  t.same(JSON.parse(String(await bufferOf(res))), { bytes: total, sha256: pseudoRandomSha256(total) })
})
