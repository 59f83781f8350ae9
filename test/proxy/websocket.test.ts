import { createServer, type IncomingHttpHeaders, type IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import t, { type Test } from 'tap'
import WebSocket, { WebSocketServer } from 'ws'
import { startTollgate, type Tollgate } from '../helpers/child'
import { get } from '../helpers/http'
import { rawExchange } from '../helpers/raw'
import { LISTEN } from '../helpers/stack'

/*
 * WebSockets through the proxy (issue 9: `Upgrade` was stripped and the app got a plain
 * GET). A real `ws` server as the app, real `ws` clients, the real CLI in a child:
 * handshakes go through the path normalisation, the route rules, the identity and the
 * limit; a refused one is an HTTP answer, never an upgraded socket; h2c is refused.
 */

interface Handshake { readonly url: string, readonly headers: IncomingHttpHeaders }

interface WsApp {
  readonly url: string
  /** Every handshake the app received. */
  readonly handshakes: Handshake[]
  /** WebSockets the app accepted, and how many of them have closed since. */
  readonly sockets: { opened: number, closed: number }
}

/**
 * Echoes every message back, prefixed `echo:`; `/forbidden` answers 403 without
 * switching; `/slow-switch` switches after 500 ms.
 */
async function startWsApp (t: Test): Promise<WsApp> {
  const handshakes: Handshake[] = []
  const sockets = { opened: 0, closed: 0 }
  const server = createServer((_req, res) => { res.end('plain') })
  const wss = new WebSocketServer({ noServer: true })
  wss.on('connection', (socket) => {
    sockets.opened++
    socket.once('close', () => { sockets.closed++ })
    socket.on('message', (data: Buffer) => { socket.send(`echo:${data.toString('utf8')}`) })
  })
  server.on('upgrade', (req: IncomingMessage, socket, head) => {
    handshakes.push({ url: req.url ?? '', headers: req.headers })
    if (req.url === '/forbidden') {
      socket.end('HTTP/1.1 403 Forbidden\r\ncontent-type: text/plain\r\ncontent-length: 6\r\nconnection: close\r\n\r\nno way')
      return
    }
    const accept = (): void => { wss.handleUpgrade(req, socket, head, (ws) => { wss.emit('connection', ws, req) }) }
    if (req.url === '/slow-switch') setTimeout(accept, 500)
    else accept()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => {
    for (const client of wss.clients) client.terminate()
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  })
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, handshakes, sockets }
}

const KEY = 'ws-key-4f1c'

const config = (app: string, extra = ''): string => `${LISTEN}
upstream: ${app}
plans: { free: [ { max: 3, per: 1m } ] }
keys: [ { name: chat-client, key: ${KEY}, plan: free } ]
routes:
  - { match: "GET /public/*", limit: false }
  - { match: "GET /expensive", plans: { free: [ { max: 1, per: 1m } ] } }
${extra}`

type Outcome =
  | { readonly opened: true, readonly ws: WebSocket, readonly headers: IncomingHttpHeaders }
  | { readonly opened: false, readonly status: number, readonly headers: IncomingHttpHeaders, readonly body: string }

/** Opens a WebSocket through tollgate; resolves with the 101's headers or the refusal. */
async function connectWs (t: Test, tg: Tollgate, path: string, headers: Record<string, string> = {}): Promise<Outcome> {
  const ws = new WebSocket(`${tg.proxyUrl.replace('http', 'ws')}${path}`, { headers })
  t.teardown(() => { ws.terminate() })
  return await new Promise((resolve, reject) => {
    ws.once('upgrade', (response: IncomingMessage) => {
      ws.once('open', () => resolve({ opened: true, ws, headers: response.headers }))
    })
    ws.once('unexpected-response', (_request, response: IncomingMessage) => {
      let body = ''
      response.setEncoding('utf8').on('data', (chunk: string) => { body += chunk })
      response.once('end', () => resolve({ opened: false, status: response.statusCode ?? 0, headers: response.headers, body }))
    })
    ws.once('error', (error) => { reject(error) })
  })
}

/** A handshake written byte for byte, for targets a client library would rewrite. */
async function rawHandshake (port: number, target: string, key: string): ReturnType<typeof rawExchange> {
  return await rawExchange(port, `GET ${target} HTTP/1.1\r\nhost: x\r\nconnection: Upgrade\r\nupgrade: websocket\r\n` +
    `sec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nx-api-key: ${key}\r\n\r\n`, 1500)
}

async function echo (ws: WebSocket, text: string): Promise<string> {
  const reply = new Promise<string>((resolve) => ws.once('message', (data: Buffer) => resolve(data.toString('utf8'))))
  ws.send(text)
  return await reply
}

t.test('handshakes are limited like requests; an allowed one is a working tunnel', async (t) => {
  const app = await startWsApp(t)
  const tg = await startTollgate(t, { configYaml: config(app.url), readyTimeoutMs: 30_000 })

  const first = await connectWs(t, tg, '/chat?room=1', { 'x-api-key': KEY })
  if (!first.opened) throw new Error(`refused: ${first.status} ${first.body}`)
  t.equal(await echo(first.ws, 'hello'), 'echo:hello', 'messages flow both ways')
  t.equal(await echo(first.ws, 'x'.repeat(100_000)), `echo:${'x'.repeat(100_000)}`, 'a 100 kB message too')
  t.match(first.headers, { 'ratelimit-policy': '"free-1m";q=3;w=60', 'x-ratelimit-remaining': '2' }, 'the 101 carries the rate-limit fields')
  const seen = app.handshakes[0]
  t.equal(seen?.url, '/chat?room=1', 'the app got the path and query')
  t.equal(seen?.headers['x-tollgate-client'], 'chat-client', 'and who the caller is')
  t.equal(seen?.headers.upgrade, 'websocket')
  t.ok(typeof seen?.headers['sec-websocket-key'] === 'string', 'the handshake headers pass')

  t.ok((await connectWs(t, tg, '/chat', { 'x-api-key': KEY })).opened, 'second handshake: allowed')
  t.ok((await connectWs(t, tg, '/chat', { 'x-api-key': KEY })).opened, 'third: allowed')
  const before = app.handshakes.length
  const refused = await connectWs(t, tg, '/chat', { 'x-api-key': KEY })
  t.match(refused, { opened: false, status: 429 }, 'the fourth handshake is refused with a 429')
  if (!refused.opened) {
    t.match(JSON.parse(refused.body), { error: 'rate_limited' }, "as tollgate's JSON")
    t.ok(Number(refused.headers['retry-after']) > 0, 'with Retry-After')
    t.equal(refused.headers.connection, 'close', 'and the connection closes')
  }
  t.equal(app.handshakes.length, before, 'the app never saw it')
  t.equal(await echo(first.ws, 'still'), 'echo:still', 'the tunnels already open are not affected')

  const anonymous = await connectWs(t, tg, '/chat')
  t.match(anonymous, { opened: false, status: 401 }, 'no key: 401, as for a plain request')

  const metrics = (await get(`${tg.adminUrl}/metrics`)).body
  t.match(metrics, /tollgate_http_requests_total\{listener="proxy",method="GET",route="default",status_code="101"\} 3/, 'each tunnel counted as a 101')
  t.match(metrics, /tollgate_http_requests_total\{listener="proxy",method="GET",route="default",status_code="429"\} 1/)
  t.match(metrics, /tollgate_ratelimit_decisions_total\{client="chat-client",plan="free",decision="allowed"\} 3/)
  await tg.waitForLog((line) => line.msg === 'request' && line.status === 101 && line.client === 'chat-client' && line.decision === 'allowed')
})

t.test('route rules apply to handshakes: limit: false passes unidentified, a rule window binds, the path cannot dodge it', async (t) => {
  const app = await startWsApp(t)
  const tg = await startTollgate(t, { configYaml: config(app.url), readyTimeoutMs: 30_000 })
  t.ok((await connectWs(t, tg, '/public/feed')).opened, 'limit: false needs no key')
  t.ok((await connectWs(t, tg, '/expensive', { 'x-api-key': KEY })).opened, 'the rule allows one a minute')
  // Raw handshakes: a WebSocket client would normalise these targets itself.
  const port = Number(new URL(tg.proxyUrl).port)
  for (const dodge of ['/expensive', '/./expensive', '/public/../expensive', '/public/%2e%2e/expensive', '//expensive', 'http://x/expensive']) {
    const outcome = await rawHandshake(port, dodge, KEY)
    t.equal(outcome.status, 429, `${dodge}: the rule's window binds`)
  }
  const climbed = await rawHandshake(port, '/rooms/../chat?room=2', KEY)
  t.equal(climbed.status, 101, 'an allowed raw handshake switches')
  t.equal(app.handshakes.at(-1)?.url, '/chat?room=2', 'and the app got the normalised path')
})

t.test("the app's refusal of a handshake reaches the client as the app wrote it", async (t) => {
  const app = await startWsApp(t)
  const tg = await startTollgate(t, { configYaml: config(app.url), readyTimeoutMs: 30_000 })
  const outcome = await connectWs(t, tg, '/forbidden', { 'x-api-key': KEY })
  t.match(outcome, { opened: false, status: 403, body: 'no way' })
  t.equal(app.handshakes.length, 1)
})

t.test('a client that leaves before the app switched leaves no tunnel open to the app', async (t) => {
  const app = await startWsApp(t)
  const tg = await startTollgate(t, { configYaml: config(app.url), readyTimeoutMs: 30_000 })
  const port = Number(new URL(tg.proxyUrl).port)
  // Gone after 100 ms; the app switches at 500 ms.
  await rawExchange(port, 'GET /slow-switch HTTP/1.1\r\nhost: x\r\nconnection: Upgrade\r\nupgrade: websocket\r\n' +
    `sec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nx-api-key: ${KEY}\r\n\r\n`, 100)
  await sleep(1500)
  t.equal(app.sockets.opened, 1, 'the app switched')
  t.equal(app.sockets.closed, 1, 'and tollgate closed its side, with no client left to join it to')
})

t.test('h2c and other upgrades are refused with 400, never sent on; the same request without Upgrade is forwarded', async (t) => {
  const app = await startWsApp(t)
  const tg = await startTollgate(t, { configYaml: config(app.url, 'api_key: { unknown: anonymous }\n'), readyTimeoutMs: 30_000 })
  const port = Number(new URL(tg.proxyUrl).port)
  const h2c = await rawExchange(port, 'GET /public/x HTTP/1.1\r\nhost: x\r\nconnection: Upgrade, HTTP2-Settings\r\nupgrade: h2c\r\nhttp2-settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n')
  t.equal(h2c.status, 400, 'h2c: 400')
  t.match(h2c.body, /"error":"bad_request"/)
  t.match(h2c.body, /h2c included, are not supported/, 'saying why')
  t.ok(h2c.closed, 'and closed')
  const post = await rawExchange(port, 'POST /public/x HTTP/1.1\r\nhost: x\r\nconnection: upgrade\r\nupgrade: websocket\r\ncontent-length: 3\r\n\r\nabc')
  t.equal(post.status, 400, 'a WebSocket upgrade that is not a bodiless GET: 400')
  const other = await rawExchange(port, 'GET /public/x HTTP/1.1\r\nhost: x\r\nconnection: upgrade\r\nupgrade: TLS/1.0\r\n\r\n')
  t.equal(other.status, 400, 'any other protocol: 400')
  t.equal(app.handshakes.length, 0, 'none reached the app')
  const plain = await rawExchange(port, 'GET /public/x HTTP/1.1\r\nhost: x\r\nconnection: close\r\nupgrade: h2c\r\n\r\n')
  t.equal(plain.status, 200, 'Upgrade not named in Connection is no upgrade request: forwarded, without it')
  const metrics = (await get(`${tg.adminUrl}/metrics`)).body
  t.match(metrics, /tollgate_http_requests_total\{listener="proxy",method="GET",route="malformed",status_code="400"\} 2/, 'counted as malformed')
})

t.test('on SIGTERM a tunnel keeps working through the drain and is closed at drain_delay + grace', async (t) => {
  const app = await startWsApp(t)
  const tg = await startTollgate(t, { configYaml: config(app.url, 'shutdown: { drain_delay: 1s, grace: 2s }\n'), readyTimeoutMs: 30_000 })
  const outcome = await connectWs(t, tg, '/chat', { 'x-api-key': KEY })
  if (!outcome.opened) throw new Error(`refused: ${outcome.status}`)
  const { ws } = outcome
  const closed = new Promise<number>((resolve) => ws.once('close', () => resolve(Date.now())))
  const signalled = Date.now()
  tg.signal('SIGTERM')
  await sleep(1500)
  t.equal(await echo(ws, 'draining'), 'echo:draining', 'past drain_delay, the tunnel still carries messages')
  const closedAt = await Promise.race([closed, sleep(6000).then(() => 0)])
  t.ok(closedAt > 0, 'the tunnel was closed')
  t.ok(closedAt - signalled >= 3000, `at ${closedAt - signalled} ms after the signal: not before drain_delay + grace`)
  const exit = await tg.exited
  t.equal(exit.code, 1, 'cut at the deadline, like any connection still open then: exit 1')
  await tg.waitForLog((line) => typeof line.msg === 'string' && line.msg.startsWith('shutdown deadline: cut 1 connection'))
})
