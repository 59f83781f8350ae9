import { request as httpRequest } from 'node:http'
import { pipeline } from 'node:stream'
import t from 'tap'
import type { Tollgate } from '../helpers/child'
import { get, rawRequest } from '../helpers/http'
import { pseudoRandomStream } from '../helpers/bytes'
import { alive, deferred, KEY, MB, startForwarding, within, type Forwarding } from './forward-kit'

// Forwarding when one side goes away: the other side sees the cut, and tollgate
// carries on (forward-kit.ts starts the processes).

let tg: Tollgate
let routes: Forwarding['routes']
t.before(async () => { ({ tg, routes } = await startForwarding(t)) })

t.test('a client that aborts mid-upload: the app sees it cut, tollgate carries on', async (t) => {
  const receiving = deferred()
  const cut = deferred<boolean>()
  routes.set('/abort-upload', (req) => {
    req.once('data', () => receiving.resolve())
    req.on('error', () => {})
    req.once('close', () => cut.resolve(req.complete))
  })
  const client = httpRequest({
    host: '127.0.0.1',
    port: new URL(tg.proxyUrl).port,
    method: 'POST',
    path: '/abort-upload',
    headers: { ...KEY, 'content-type': 'application/octet-stream', 'content-length': 10 * MB },
    agent: false
  })
  client.on('error', () => {})
  client.write(Buffer.alloc(256 * 1024))
  await within(receiving.promise, 'the app receiving the start of the upload')
  client.destroy()
  t.equal(await within(cut.promise, 'the app seeing the upload end'), false, 'the app saw an incomplete body, not a complete one')

  const next = await get(`${tg.proxyUrl}/after-abort`, KEY)
  t.equal(next.status, 200)
  t.ok(alive(tg.pid), 'tollgate still runs')
})

t.test('a client that goes away mid-download: the app\'s response is cut, tollgate carries on', async (t) => {
  const ended = deferred<Error | null>()
  routes.set('/abort-download', (req, res) => {
    req.resume()
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': 200 * MB })
    pipeline(pseudoRandomStream(200 * MB), res, (err) => ended.resolve(err ?? null))
  })
  const res = await rawRequest(`${tg.proxyUrl}/abort-download`, { headers: KEY })
  t.equal(res.statusCode, 200)
  const reader = res.body[Symbol.asyncIterator]()
  await reader.next()
  res.body.destroy()
  // Unless tollgate passes the hang-up on, the app's write blocks on backpressure for good.
  const err = await within(ended.promise, 'the app\'s response ending')
  t.ok(err, 'the app\'s response was cut short')

  const next = await get(`${tg.proxyUrl}/after-abort`, KEY)
  t.equal(next.status, 200)
  t.ok(alive(tg.pid), 'tollgate still runs')
})

t.test('a client that goes away before the app answers: the app\'s request is aborted', async (t) => {
  const arrived = deferred()
  const aborted = deferred<boolean>()
  routes.set('/abort-waiting', (req, res) => {
    req.resume()
    arrived.resolve()
    // The app would answer in 5 s; the proxy must hang up on it long before.
    const timer = setTimeout(() => res.end('too late'), 5000)
    res.once('close', () => { clearTimeout(timer); aborted.resolve(!res.writableFinished) })
  })
  const client = httpRequest({ host: '127.0.0.1', port: new URL(tg.proxyUrl).port, path: '/abort-waiting', headers: KEY, agent: false })
  client.on('error', () => {})
  client.end()
  await within(arrived.promise, 'the request reaching the app')
  client.destroy()
  t.equal(await within(aborted.promise, 'the app\'s request being aborted'), true, 'the app saw the connection go before it answered')
})

t.test('the app that resets mid-response: the client sees the cut, tollgate carries on', async (t) => {
  routes.set('/cut', (req, res) => {
    req.resume()
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 1000 })
    res.write('only part of it')
    setTimeout(() => res.socket?.destroy(), 50)
  })
  const res = await rawRequest(`${tg.proxyUrl}/cut`, { headers: KEY })
  t.equal(res.statusCode, 200, 'the headers were already on their way')
  await t.rejects(res.body.text(), 'the body does not end as if it were complete')

  const next = await get(`${tg.proxyUrl}/after-cut`, KEY)
  t.equal(next.status, 200)
  t.ok(alive(tg.pid), 'tollgate still runs')
})
