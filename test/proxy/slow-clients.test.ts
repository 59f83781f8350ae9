import { connect, type Socket } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import t, { type Test } from 'tap'
import { startTollgate, type Tollgate } from '../helpers/child'
import { get } from '../helpers/http'
import { LISTEN } from '../helpers/stack'
import { startUpstream } from '../helpers/upstream'

/*
 * `server:` against real slow clients (issue 9: 300 slowloris connections held for
 * 30 s, none closed): raw sockets that send one header byte a second are answered 408
 * and closed once `headers_timeout` has passed, the proxy holds no more than
 * `max_connections`, and a normal request gets through once the slow ones are cut.
 * The real CLI in a child, so the wiring (start and reload) is what is tested.
 */

t.jobs = 2

const config = (upstream: string, server: string): string => `${LISTEN}
upstream: ${upstream}
plans: { anonymous: [ { max: 100000, per: 1s } ] }
server: ${server}
`

interface Slow {
  /** Everything the server wrote. */
  readonly received: () => string
  /** Resolves with ms since the connection opened, when the server closed it. */
  readonly closed: Promise<number>
  readonly socket: Socket
}

/** A slowloris client: a request line, then one header byte a second, never the blank line. */
async function slowloris (t: Test, url: string): Promise<Slow> {
  const { port } = new URL(url)
  const socket = connect(Number(port), '127.0.0.1')
  socket.on('error', () => {})
  let received = ''
  socket.setEncoding('latin1').on('data', (chunk: string) => { received += chunk })
  const opened = Date.now()
  const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(Date.now() - opened)))
  await new Promise<void>((resolve) => socket.once('connect', resolve))
  socket.write('GET /slow HTTP/1.1\r\nhost: x\r\nx-drip: ')
  const drip = setInterval(() => { if (socket.writable) socket.write('a') }, 1000)
  void closed.then(() => { clearInterval(drip) })
  t.teardown(() => { clearInterval(drip); socket.destroy() })
  return { received: () => received, closed, socket }
}

/** Resolves with ms until the server closed it, or undefined if it still runs after `ms`. */
async function closedWithin (slow: Slow, ms: number): Promise<number | undefined> {
  return await Promise.race([slow.closed, sleep(ms).then(() => undefined)])
}

async function proxyAnswers (tg: Tollgate): Promise<number> {
  try {
    return (await get(`${tg.proxyUrl}/status/200`, { connection: 'close' }, { headersTimeout: 2000 })).status
  } catch {
    return 0
  }
}

t.test('slowloris connections are answered 408 and closed after headers_timeout; a normal request meanwhile gets 200', async (t) => {
  const upstream = await startUpstream(t)
  const tg = await startTollgate(t, { configYaml: config(upstream.url, '{ headers_timeout: 2s }'), readyTimeoutMs: 30_000 })
  const slow = await Promise.all(Array.from({ length: 30 }, async () => await slowloris(t, tg.proxyUrl)))
  await sleep(500)
  t.equal(await proxyAnswers(tg), 200, 'a normal request is answered while 30 slow clients drip')
  const times = await Promise.all(slow.map(async (s) => await closedWithin(s, 8000)))
  const cut = times.filter((ms): ms is number => ms !== undefined)
  t.equal(cut.length, 30, 'every slow connection was closed by the server')
  // Not before the 2 s headers timeout; at most one 1 s sweep after it, plus a loaded machine.
  t.ok(cut.every((ms) => ms >= 1900 && ms < 5000), `closed after ${Math.min(...cut)}–${Math.max(...cut)} ms`)
  t.ok(slow.every((s) => s.received().startsWith('HTTP/1.1 408 ')), 'each got a 408 first')
  t.match(slow[0]?.received() ?? '', /"error":"request_timeout"/, "in tollgate's JSON")
  t.equal(upstream.requests.filter((r) => r.url === '/slow').length, 0, 'nothing reached the app')
  const metrics = (await get(`${tg.adminUrl}/metrics`)).body
  t.match(metrics, /tollgate_http_requests_total\{listener="proxy",method="unknown",route="malformed",status_code="408"\} 30/, 'counted')
  t.comment(`30 slowloris connections closed ${Math.min(...cut)}–${Math.max(...cut)} ms after they opened (headers_timeout 2s)`)
})

t.test('max_connections: past the cap a connection is closed unanswered and logged; once the slow ones are cut, requests get through; a reload moves the cap', async (t) => {
  const upstream = await startUpstream(t)
  const tg = await startTollgate(t, { configYaml: config(upstream.url, '{ headers_timeout: 3s, max_connections: 10 }'), readyTimeoutMs: 30_000 })
  const slow = await Promise.all(Array.from({ length: 10 }, async () => await slowloris(t, tg.proxyUrl)))
  await sleep(300)
  const extra = await slowloris(t, tg.proxyUrl)
  const extraClosed = await closedWithin(extra, 1000)
  t.ok(extraClosed !== undefined && extraClosed < 1000, `the 11th connection was closed at once (${String(extraClosed)} ms)`)
  t.equal(extra.received(), '', 'unanswered: Node drops it before reading a byte')
  t.equal(await proxyAnswers(tg), 0, 'a normal request cannot get in while the cap is full')
  await tg.waitForLog((line) => line.msg === 'connection refused: server.max_connections reached' && line.maxConnections === 10)
  t.equal((await get(`${tg.adminUrl}/health/live`)).status, 200, 'the admin port is not under the cap')

  await Promise.all(slow.map(async (s) => await s.closed))
  t.equal(await proxyAnswers(tg), 200, 'once headers_timeout cut the slow clients, a normal request gets 200')

  await tg.writeConfig(config(upstream.url, '{ headers_timeout: 3s, max_connections: 3 }'))
  await tg.waitForLog((line) => line.msg === 'config reloaded')
  const three = await Promise.all(Array.from({ length: 3 }, async () => await slowloris(t, tg.proxyUrl)))
  await sleep(300)
  const fourth = await slowloris(t, tg.proxyUrl)
  t.ok((await closedWithin(fourth, 1000)) !== undefined, 'after the reload the cap is 3: the 4th is closed')
  t.equal(await closedWithin(three[0] as Slow, 0), undefined, 'the first 3 still open')
})
