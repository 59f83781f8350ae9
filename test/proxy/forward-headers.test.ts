import { Readable } from 'node:stream'
import t from 'tap'
import type { Tollgate } from '../helpers/child'
import { get } from '../helpers/http'
import type { EchoBody, Upstream } from '../helpers/upstream'
import { nodeRequest, rawExchange, rawValues } from './forward-client'
import { assertRateLimitHeaders, KEY, last, sha256, startForwarding, type Forwarding } from './forward-kit'

// Forwarding, the headers: x-forwarded-*, who called, and hop-by-hop headers both ways
// (forward-kit.ts starts the processes).

let up: Upstream
let tg: Tollgate
let routes: Forwarding['routes']
t.before(async () => { ({ up, tg, routes } = await startForwarding(t)) })

t.test('x-forwarded-for is appended, x-forwarded-proto/host are ours (trust_proxy: false)', async (t) => {
  const plain = await get(`${tg.proxyUrl}/fwd`, KEY)
  const host = new URL(tg.proxyUrl).host
  t.match(plain.json(), { headers: { 'x-forwarded-for': '127.0.0.1', 'x-forwarded-proto': 'http', 'x-forwarded-host': host } })

  const spoofed = await get(`${tg.proxyUrl}/fwd`, {
    ...KEY,
    'x-forwarded-for': '203.0.113.9',
    'x-forwarded-proto': 'https',
    'x-forwarded-host': 'evil.example'
  })
  t.match(spoofed.json(), { headers: { 'x-forwarded-for': '203.0.113.9, 127.0.0.1', 'x-forwarded-proto': 'http', 'x-forwarded-host': host } })
})

// Regression: with no Host to replace it (HTTP/1.0), the client's own
// x-forwarded-host went through to the app although trust_proxy is false.
t.test('HTTP/1.0 without Host: a client x-forwarded-host is dropped, not passed on', async (t) => {
  const response = await rawExchange(tg.proxyUrl,
    'GET /old HTTP/1.0\r\nx-api-key: acme-key\r\nx-forwarded-host: evil.example\r\nx-forwarded-proto: https\r\n\r\n')
  t.match(response, /^HTTP\/1\.1 200 /)
  const echo = JSON.parse(response.slice(response.indexOf('\r\n\r\n') + 4)) as EchoBody
  t.equal(echo.url, '/old')
  t.equal(echo.headers['x-forwarded-host'], undefined)
  t.equal(echo.headers['x-forwarded-proto'], 'http')
})

t.test('the app learns who called: x-tollgate-client and x-tollgate-plan', async (t) => {
  const keyed = await get(`${tg.proxyUrl}/who`, KEY)
  t.match(keyed.json(), { headers: { 'x-tollgate-client': 'acme', 'x-tollgate-plan': 'pro' } })

  const bearer = await get(`${tg.proxyUrl}/who`, { authorization: 'Bearer acme-key' })
  t.match(bearer.json(), { headers: { 'x-tollgate-client': 'acme', 'x-tollgate-plan': 'pro' } })

  const anonymous = await get(`${tg.proxyUrl}/who`)
  t.match(anonymous.json(), { headers: { 'x-tollgate-client': 'anonymous', 'x-tollgate-plan': 'anonymous' } })
})

t.test('a client cannot spoof x-tollgate-client or x-tollgate-plan', async (t) => {
  const spoof = { 'x-tollgate-client': 'root', 'X-Tollgate-Plan': 'enterprise' }
  const res = await nodeRequest(tg.proxyUrl, '/who', { headers: { ...KEY, ...spoof } })
  t.equal(res.status, 200)
  const seen = last(up)
  t.same(rawValues(seen.rawHeaders, 'x-tollgate-client'), ['acme'], 'exactly one, ours')
  t.same(rawValues(seen.rawHeaders, 'x-tollgate-plan'), ['pro'], 'exactly one, ours')

  // `limit: false` routes identify nobody: the client's claims are dropped, not kept.
  const open = await nodeRequest(tg.proxyUrl, '/open/page', { headers: { ...KEY, ...spoof } })
  t.equal(open.status, 200)
  t.same(rawValues(last(up).rawHeaders, 'x-tollgate-client'), [])
  t.same(rawValues(last(up).rawHeaders, 'x-tollgate-plan'), [])
})

t.test('hop-by-hop request headers stop at tollgate', async (t) => {
  // undici throws on `keep-alive`, `upgrade`, `expect` and `transfer-encoding`: passing
  // any of them on would be a 502 here, and the names `connection` lists are the
  // client's business with us only.
  const res = await nodeRequest(tg.proxyUrl, '/hop', {
    method: 'POST',
    headers: {
      ...KEY,
      connection: 'close, X-Hop-Named',
      'keep-alive': 'timeout=5, max=100',
      upgrade: 'h2c',
      te: 'trailers',
      trailer: 'x-checksum',
      'proxy-authorization': 'Basic cHJveHk6c2VjcmV0',
      'x-hop-named': 'for tollgate only',
      'x-end-to-end': 'for the app'
    },
    body: Readable.from([Buffer.from('chunk one, '), Buffer.from('chunk two')])
  })
  t.equal(res.status, 200)
  const echo = res.json() as EchoBody
  for (const name of ['keep-alive', 'upgrade', 'te', 'trailer', 'proxy-authorization', 'x-hop-named']) {
    t.equal(echo.headers[name], undefined, `${name} is not forwarded`)
  }
  t.notMatch(String(echo.headers.connection), /hop-named|close/i, 'the client connection header is not forwarded')
  t.equal(echo.headers['x-end-to-end'], 'for the app')
  t.equal(echo.bodySha256, sha256('chunk one, chunk two'), 'the chunked body arrives whole')

  const upgrade = await nodeRequest(tg.proxyUrl, '/hop', { headers: { ...KEY, connection: 'Upgrade', upgrade: 'websocket' } })
  // A WebSocket handshake goes to the app as one (test/proxy/websocket.test.ts); an app
  // that does not switch answers it, and that answer is relayed.
  t.equal(upgrade.status, 200, "an upgrade the app does not switch for gets the app's own answer")
  t.equal((upgrade.json() as EchoBody).headers.upgrade, 'websocket', 'the app was asked to switch')
})

t.test('hop-by-hop response headers stop at tollgate; set-cookie twice stays twice', async (t) => {
  // node:http sends `connection: close`, so Node adds no Keep-Alive of its own.
  const res = await nodeRequest(tg.proxyUrl, '/headers', { headers: KEY })
  t.equal(res.status, 200)
  t.same(rawValues(res.rawHeaders, 'set-cookie'), ['a=1; Path=/', 'b=2; Path=/'])
  t.equal(res.headers['x-custom'], '1')
  t.equal(res.headers['keep-alive'], undefined, 'the app\'s keep-alive header does not come back')
  t.equal(res.headers.connection, 'close', 'the connection header is ours, not the app\'s keep-alive')
  assertRateLimitHeaders(t, res.headers)
})

t.test('response headers the app names in its connection header stop at tollgate', async (t) => {
  routes.set('/connection-named', (req, res) => {
    req.resume()
    res.setHeader('connection', 'X-Secret-Hop')
    res.setHeader('x-secret-hop', 'between the app and tollgate')
    res.setHeader('proxy-authenticate', 'Basic realm="app"')
    res.setHeader('x-end-to-end', 'for the client')
    res.end('ok')
  })
  const res = await nodeRequest(tg.proxyUrl, '/connection-named', { headers: KEY })
  t.equal(res.status, 200)
  t.equal(res.body.toString(), 'ok')
  t.equal(res.headers['x-secret-hop'], undefined)
  t.equal(res.headers['proxy-authenticate'], undefined)
  t.equal(res.headers['x-end-to-end'], 'for the client')
})
