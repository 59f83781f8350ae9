import { execFile, spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { once } from 'node:events'
import { request as httpRequest } from 'node:http'
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough, pipeline, Readable } from 'node:stream'
import { setTimeout as delay } from 'node:timers/promises'
import { promisify } from 'node:util'
import t from 'tap'
import type { Test } from 'tap'
import { at } from '../helpers/at'
import { pseudoRandomSha256, pseudoRandomStream } from '../helpers/bytes'
import { startTollgate } from '../helpers/child'
import { get, rawRequest, send } from '../helpers/http'
import { deadPort, startUpstream, type EchoBody, type RecordedRequest, type Upstream } from '../helpers/upstream'

/*
 * The proxy listener's forwarding contract, end to end: a real tollgate child process
 * between a real client and a real upstream, on real sockets. Each group starts its
 * tollgate(s) once (a second or more each: the child compiles the TypeScript) and
 * shares them between its tests.
 */

const MB = 1024 * 1024
const KEY = { 'x-api-key': 'acme-key' }
/** How long a test waits for something that, when the feature works, takes milliseconds. */
const PROMPTLY_MS = 5000

function configYaml (upstream: string | undefined, extra: string[] = []): string {
  return [
    'listen: { proxy: 127.0.0.1:0, admin: 127.0.0.1:0 }',
    ...(upstream === undefined ? [] : [`upstream: ${upstream}`]),
    'plans:',
    '  pro: [ { max: 100000, per: 1s } ]',
    '  anonymous: [ { max: 100000, per: 1s } ]',
    '  tiny: [ { max: 1, per: 1h } ]',
    'keys:',
    '  - { name: acme, key: acme-key, plan: pro }',
    '  - { name: tiny, key: tiny-key, plan: tiny }',
    'routes:',
    '  - { match: "/open/*", limit: false }',
    ...extra
  ].join('\n') + '\n'
}

const HAS_CURL = spawnSync('curl', ['--version']).status === 0

const sha256 = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex')

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

interface Deferred<T> {
  readonly promise: Promise<T>
  resolve(value: T): void
}

function deferred<T = void> (): Deferred<T> {
  let resolve!: (value: T) => void
  const promise = new Promise<T>((_resolve) => { resolve = _resolve })
  return { promise, resolve }
}

/** `promise`, or a rejection naming `what` after `ms`: a broken feature fails, not hangs. */
async function within<T> (promise: Promise<T>, what: string, ms = PROMPTLY_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: did not happen within ${ms} ms`)), ms)
  })
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}

/**
 * Extra upstream routes, set by the test that needs them. The upstream helper calls
 * `handle` before its built-in routes.
 */
type Route = (req: IncomingMessage, res: ServerResponse) => void

function customRoutes (): { routes: Map<string, Route>, handle: (req: IncomingMessage, res: ServerResponse) => boolean } {
  const routes = new Map<string, Route>()
  return {
    routes,
    handle: (req, res) => {
      const route = routes.get(at((req.url ?? '').split('?'), 0))
      if (route === undefined) return false
      route(req, res)
      return true
    }
  }
}

interface NodeResponse {
  readonly status: number
  readonly headers: IncomingHttpHeaders
  /** Names and values as they came on the wire: repeats kept. */
  readonly rawHeaders: readonly string[]
  readonly body: Buffer
  /** The server answered `100 Continue`. */
  readonly sawContinue: boolean
  json(): unknown
}

interface NodeRequestOptions {
  method?: string
  headers?: OutgoingHttpHeaders
  body?: Buffer | Readable
  localAddress?: string
}

/**
 * One request through node:http on a fresh connection: unlike undici it sends any header
 * (`expect`, `keep-alive`, `upgrade`, `transfer-encoding`, hop-by-hop names in
 * `connection`) and the path exactly as given. With `expect: 100-continue` the body
 * waits for the server's `100 Continue`, as curl does.
 */
async function nodeRequest (base: string, path: string, options: NodeRequestOptions = {}): Promise<NodeResponse> {
  const { hostname, port } = new URL(base)
  return await new Promise((resolve, reject) => {
    let sawContinue = false
    const req = httpRequest({
      host: hostname,
      port,
      path,
      method: options.method ?? 'GET',
      headers: options.headers,
      localAddress: options.localAddress,
      agent: false
    })
    req.once('error', reject)
    req.once('response', (res) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.once('error', reject)
      res.once('end', () => {
        const body = Buffer.concat(chunks)
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          rawHeaders: res.rawHeaders,
          body,
          sawContinue,
          json: () => JSON.parse(body.toString()) as unknown
        })
        // A `connection: keep-alive` request would otherwise keep this socket, and the
        // test process, alive.
        req.destroy()
      })
    })
    const sendBody = (): void => {
      const { body } = options
      if (body instanceof Readable) pipeline(body, req, (err) => { if (err != null) reject(err) })
      else req.end(body)
    }
    if (String(options.headers?.expect ?? '').toLowerCase() === '100-continue') {
      req.once('continue', () => {
        sawContinue = true
        sendBody()
      })
      req.flushHeaders()
    } else {
      sendBody()
    }
  })
}

/** Writes `text` on a raw socket and returns everything read until the server closes. */
async function rawExchange (base: string, text: string): Promise<string> {
  const { hostname, port } = new URL(base)
  return await new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => socket.write(text))
    let received = ''
    socket.setEncoding('utf8')
    socket.on('data', (chunk: string) => { received += chunk })
    socket.once('error', reject)
    socket.once('end', () => resolve(received))
  })
}

/** The values of every `rawHeaders` entry named `name` (lower case), in wire order. */
function rawValues (rawHeaders: readonly string[], name: string): string[] {
  const values: string[] = []
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (at(rawHeaders, i).toLowerCase() === name) values.push(at(rawHeaders, i + 1))
  }
  return values
}

async function sha256OfStream (body: AsyncIterable<Buffer>): Promise<{ bytes: number, sha256: string }> {
  const hash = createHash('sha256')
  let bytes = 0
  for await (const chunk of body) {
    hash.update(chunk)
    bytes += chunk.length
  }
  return { bytes, sha256: hash.digest('hex') }
}

async function bufferOf (stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of stream) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}

const last = (up: Upstream): RecordedRequest => at(up.requests, -1)

/** The rate-limit fields of the `pro` plan's single window, as every allowed response carries them. */
function assertRateLimitHeaders (t: Test, headers: IncomingHttpHeaders): void {
  t.equal(headers['ratelimit-policy'], '"pro-1s";q=100000;w=1')
  t.match(headers.ratelimit, /^"pro-1s";r=\d+;t=\d+$/)
  t.equal(headers['x-ratelimit-limit'], '100000')
  t.match(headers['x-ratelimit-remaining'], /^\d+$/)
  t.match(headers['x-ratelimit-reset'], /^\d+$/)
}

t.test('forwarding to the app, both ways', async (t) => {
  const { routes, handle } = customRoutes()
  const up = await startUpstream(t, { handle })
  const tg = await startTollgate(t, { configYaml: configYaml(up.url) })

  t.test('a path already normal, and every query, reach the app byte for byte', async (t) => {
    const targets = [
      '/a%3Fb/c%20d;p=1?x=1&x=2&y=%26&empty=&flag',
      '/q?',
      '/caf%C3%A9?q=%zz&r=caf%C3%A9&s=/../%2F',
      `/${'long'.repeat(500)}?${'q'.repeat(2000)}`
    ]
    for (const target of targets) {
      const res = await nodeRequest(tg.proxyUrl, target, { headers: KEY })
      t.equal(res.status, 200, target.slice(0, 60))
      t.equal((res.json() as EchoBody).url, target)
    }
  })

  // What was matched against the rules is what the app gets (test/proxy/paths.test.ts has the rest).
  t.test('any other path reaches the app normalised', async (t) => {
    const targets: Array<[string, string]> = [
      ['//double//slash/', '/double/slash/'],
      ['/a/../b/./c', '/b/c'],
      ['/%7Euser/caf%c3%a9?q=%7e', '/~user/caf%C3%A9?q=%7e']
    ]
    for (const [target, normalised] of targets) {
      const res = await nodeRequest(tg.proxyUrl, target, { headers: KEY })
      t.equal(res.status, 200, target)
      t.equal((res.json() as EchoBody).url, normalised, target)
    }
  })

  t.test('GET: status, headers and body of the app, plus the rate-limit headers', async (t) => {
    const res = await get(`${tg.proxyUrl}/hello?who=world`, { ...KEY, 'x-custom-request': 'yes', accept: 'text/plain' })
    t.equal(res.status, 200)
    t.equal(res.headers['content-type'], 'application/json; charset=utf-8')
    t.equal(res.headers['content-length'], String(Buffer.byteLength(res.body)))
    assertRateLimitHeaders(t, res.headers)
    const echo = res.json() as EchoBody
    t.equal(echo.method, 'GET')
    t.equal(echo.url, '/hello?who=world')
    t.equal(echo.headers['x-custom-request'], 'yes')
    t.equal(echo.headers.accept, 'text/plain')
    t.equal(echo.headers['x-api-key'], undefined, 'the key is tollgate\'s: the app gets x-tollgate-client instead')
    t.equal(echo.bodyBytes, 0)
  })

  t.test('HEAD, DELETE, PATCH, PUT, OPTIONS, TRACE with their bodies', async (t) => {
    const head = await send('HEAD', `${tg.proxyUrl}/bytes/1000`, KEY)
    t.equal(head.status, 200)
    t.equal(head.headers['content-length'], '1000', 'HEAD keeps the length of the body it omits')
    t.equal(head.headers['x-sha256'], pseudoRandomSha256(1000))
    t.equal(head.body, '')
    t.equal(last(up).method, 'HEAD')

    for (const method of ['DELETE', 'PATCH', 'PUT', 'OPTIONS'] as const) {
      const body = `{"op":"${method}"}`
      const res = await send(method, `${tg.proxyUrl}/items/7?v=2`, { ...KEY, 'content-type': 'application/json' }, body)
      t.equal(res.status, 200, method)
      t.match(res.json(), { method, url: '/items/7?v=2', bodyBytes: body.length, bodySha256: sha256(body) }, method)
    }
    const trace = await send('TRACE', `${tg.proxyUrl}/trace`, KEY)
    t.match(trace.json(), { method: 'TRACE', url: '/trace' })
  })

  // Regression: Fastify routes only some methods (its own 404 for the rest) and asks
  // for a content-type on QUERY (400); the app, not the proxy, decides what it accepts.
  t.test('methods Fastify does not route by default still reach the app', async (t) => {
    for (const method of ['PURGE', 'PROPFIND', 'MKCOL', 'LINK', 'REPORT']) {
      const res = await nodeRequest(tg.proxyUrl, '/dav/x', { method, headers: KEY })
      t.equal(res.status, 200, method)
      t.match(res.json(), { method, url: '/dav/x' }, method)
    }
    const xml = Buffer.from('<?xml version="1.0"?><propfind xmlns="DAV:"><allprop/></propfind>')
    const propfind = await nodeRequest(tg.proxyUrl, '/dav/', { method: 'PROPFIND', headers: { ...KEY, 'content-type': 'application/xml', depth: '1' }, body: xml })
    t.match(propfind.json(), { method: 'PROPFIND', headers: { depth: '1' }, bodyBytes: xml.length, bodySha256: sha256(xml) })
    const query = await nodeRequest(tg.proxyUrl, '/search', { method: 'QUERY', headers: KEY, body: Buffer.from('q=1') })
    t.equal(query.status, 200, 'QUERY without a content-type')
    t.match(query.json(), { method: 'QUERY', bodyBytes: 3, bodySha256: sha256('q=1') })
  })

  t.test('a body with no content-type, or one nobody could parse, arrives intact', async (t) => {
    const body = Buffer.from('raw bytes with no declared type \x00\x01\x02')
    const bare = await nodeRequest(tg.proxyUrl, '/untyped', { method: 'POST', headers: { ...KEY, 'content-length': body.length }, body })
    t.equal(bare.status, 200)
    const echo = bare.json() as EchoBody
    t.equal(echo.headers['content-type'], undefined, 'no content-type was invented')
    t.equal(echo.bodyBytes, body.length)
    t.equal(echo.bodySha256, sha256(body))

    for (const type of ['application/json', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']) {
      const res = await send('POST', `${tg.proxyUrl}/typed`, { ...KEY, 'content-type': type }, '{not json')
      t.equal(res.status, 200, type)
      t.match(res.json(), { headers: { 'content-type': type }, bodySha256: sha256('{not json') }, type)
    }
  })

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

  t.test('the app\'s status codes and headers pass through', async (t) => {
    for (const code of [201, 202, 301, 400, 404, 409, 500, 503]) {
      const res = await get(`${tg.proxyUrl}/status/${code}`, KEY)
      t.equal(res.status, code, String(code))
      t.equal(res.headers['x-upstream'], 'yes', `${code} keeps the app's header`)
      t.equal(res.headers['content-type'], 'application/json; charset=utf-8')
      t.same(res.json(), { status: code }, `${code} keeps the app's body, not an error of ours`)
      assertRateLimitHeaders(t, res.headers)
    }
    const empty = await get(`${tg.proxyUrl}/status/204`, KEY)
    t.equal(empty.status, 204)
    t.equal(empty.headers['x-upstream'], 'yes')
    t.equal(empty.body, '')
  })

  t.test('admin paths on the proxy port go to the app like any other path', async (t) => {
    for (const [method, path] of [['GET', '/health/live'], ['GET', '/health/ready'], ['GET', '/health/full'], ['GET', '/metrics'], ['POST', '/-/reload']] as const) {
      const res = await send(method, `${tg.proxyUrl}${path}`, KEY)
      t.equal(res.status, 200, path)
      t.match(res.json(), { method, url: path }, `${path} was answered by the app`)
    }
    const admin = await get(`${tg.adminUrl}/health/live`)
    t.equal(admin.status, 200, 'the admin port does serve it')
    t.notMatch(admin.body, /"url"/, 'and answers itself')
  })

  t.test('refused requests never reach the app', async (t) => {
    const before = up.requests.length
    const unknown = await get(`${tg.proxyUrl}/secret`, { 'x-api-key': 'nobody-key' })
    t.equal(unknown.status, 401)

    const first = await get(`${tg.proxyUrl}/tiny`, { 'x-api-key': 'tiny-key' })
    t.equal(first.status, 200)
    const limited = await send('POST', `${tg.proxyUrl}/tiny`, { 'x-api-key': 'tiny-key', 'content-type': 'text/plain' }, 'x'.repeat(100_000))
    t.equal(limited.status, 429)
    t.match(limited.json(), { error: 'rate_limited' })
    t.equal(up.requests.length, before + 1, 'only the allowed request was forwarded')
  })

  // Regression: a path the router cannot decode was answered by Fastify in its own
  // shape (`FST_ERR_BAD_URL`) instead of ours.
  t.test('an undecodable path is a 400 bad_request in our shape, not forwarded', async (t) => {
    const before = up.requests.length
    const res = await nodeRequest(tg.proxyUrl, '/bad%zz', { headers: KEY })
    t.equal(res.status, 400)
    t.same(Object.keys(res.json() as object).sort(), ['error', 'message'])
    t.match(res.json(), { error: 'bad_request' })
    t.equal(up.requests.length, before)
    const next = await get(`${tg.proxyUrl}/fine`, KEY)
    t.equal(next.status, 200)
  })

  const size = 10 * MB

  t.test('a 10 MB upload arrives intact, chunked or with a length', async (t) => {
    const chunked = await rawRequest(`${tg.proxyUrl}/upload`, {
      method: 'POST',
      headers: { ...KEY, 'content-type': 'application/octet-stream' },
      body: pseudoRandomStream(size)
    })
    t.equal(chunked.statusCode, 200)
    t.match(await chunked.body.json(), { bodyBytes: size, bodySha256: pseudoRandomSha256(size), headers: { 'transfer-encoding': 'chunked' } })

    const sized = await rawRequest(`${tg.proxyUrl}/upload`, {
      method: 'PUT',
      headers: { ...KEY, 'content-type': 'application/octet-stream', 'content-length': String(size) },
      body: pseudoRandomStream(size)
    })
    t.equal(sized.statusCode, 200)
    t.match(await sized.body.json(), { method: 'PUT', bodyBytes: size, bodySha256: pseudoRandomSha256(size), headers: { 'content-length': String(size) } })
  })

  t.test('a 10 MB response arrives intact', async (t) => {
    const res = await rawRequest(`${tg.proxyUrl}/bytes/${size}`, { headers: KEY })
    t.equal(res.statusCode, 200)
    t.equal(res.headers['content-length'], String(size))
    t.equal(res.headers['x-sha256'], pseudoRandomSha256(size))
    assertRateLimitHeaders(t, res.headers)
    t.same(await sha256OfStream(res.body), { bytes: size, sha256: pseudoRandomSha256(size) })
  })

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

  t.test('expect: 100-continue uploads get their 100 and arrive intact', async (t) => {
    const body = await bufferOf(pseudoRandomStream(2 * MB))
    const res = await nodeRequest(tg.proxyUrl, '/continue', {
      method: 'POST',
      headers: { ...KEY, expect: '100-continue', 'content-type': 'application/octet-stream', 'content-length': body.length },
      body
    })
    t.ok(res.sawContinue, 'tollgate answered 100 Continue')
    t.equal(res.status, 200)
    const echo = res.json() as EchoBody
    t.equal(echo.headers.expect, undefined, 'expect is hop-by-hop: undici refuses it, the app never sees it')
    t.equal(echo.bodyBytes, body.length)
    t.equal(echo.bodySha256, sha256(body))
  })

  t.test('curl uploads over 1 MB (it sends expect: 100-continue by itself)', { skip: HAS_CURL ? false : 'curl is not installed' }, async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'tollgate-forward-'))
    t.teardown(async () => await rm(dir, { recursive: true, force: true }))
    const file = join(dir, 'upload.bin')
    writeFileSync(file, await bufferOf(pseudoRandomStream(3 * MB)))
    const { stdout, stderr } = await promisify(execFile)('curl', [
      '--silent', '--show-error', '--verbose', '--max-time', '10',
      '-H', 'x-api-key: acme-key', '-H', 'content-type: application/octet-stream',
      '--data-binary', `@${file}`, `${tg.proxyUrl}/curl-upload`
    ], { maxBuffer: 10 * MB })
    t.match(stderr, /> Expect: 100-continue/i, 'curl asked for 100-continue')
    t.match(stderr, /< HTTP\/1\.1 100 Continue/, 'and got it')
    t.match(stderr, /< HTTP\/1\.1 200 OK/)
    t.match(JSON.parse(stdout), { method: 'POST', url: '/curl-upload', bodyBytes: 3 * MB, bodySha256: pseudoRandomSha256(3 * MB) })
  })

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
})

/** A field of /proc/PID/status, in bytes. */
function procStatusBytes (pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  if (match === null) throw new Error(`no ${field} in /proc/${pid}/status`)
  return Number(match[1]) * 1024
}

/** Resets VmHWM (peak RSS) to the current RSS: `echo 5 > /proc/PID/clear_refs`. */
function resetPeakRss (pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5')
    return true
  } catch {
    return false
  }
}

// RSS cannot tell a streamed 50 MB body from a held one. Streaming leaves each 64 KiB
// socket read buffer behind as garbage, and V8 collects such off-heap memory only
// once ~64 MB of it has piled up. Measured on this tollgate: RSS grows 30-60 MB over
// a first 50 MB upload and 20-64 MB over a first 200 MB one, while a proxy that
// buffers grows 80-116 MB over 50 MB and ~400 MB over 200 MB. So this test sends
// 200 MB and bounds growth at half of it; the 50 MB case is pinned without RSS
// above, by what tollgate takes in while the app reads nothing.
t.test('a 200 MB upload streams through: tollgate\'s RSS grows by far less than the body', { skip: process.platform !== 'linux' && 'reads /proc' }, async (t) => {
  const up = await startUpstream(t)
  const tg = await startTollgate(t, { configYaml: configYaml(up.url) })
  const size = 200 * MB
  const upload = async (n: number): Promise<unknown> => {
    const res = await rawRequest(`${tg.proxyUrl}/upload`, {
      method: 'POST',
      headers: { ...KEY, 'content-type': 'application/octet-stream', 'content-length': String(n) },
      body: pseudoRandomStream(n)
    })
    t.equal(res.statusCode, 200)
    return await res.body.json()
  }
  // Warm up with a small one: the code paths of a forwarded upload load on first use.
  // Not a big one: later big bodies reuse memory the allocator already holds,
  // buffered or not; the first big body of a fresh process is the one that tells.
  await upload(2 * MB)
  pseudoRandomSha256(size)

  const before = procStatusBytes(tg.pid, 'VmRSS')
  const peakReset = resetPeakRss(tg.pid)
  let sampledPeak = before
  const sampler = setInterval(() => { sampledPeak = Math.max(sampledPeak, procStatusBytes(tg.pid, 'VmRSS')) }, 10)
  let echo: unknown
  try {
    echo = await upload(size)
  } finally {
    clearInterval(sampler)
  }
  const after = procStatusBytes(tg.pid, 'VmRSS')
  const peak = Math.max(sampledPeak, after, peakReset ? procStatusBytes(tg.pid, 'VmHWM') : 0)
  t.match(echo, { bodyBytes: size, bodySha256: pseudoRandomSha256(size) })

  const limit = size / 2
  const mb = (n: number): string => `${(n / MB).toFixed(1)} MB`
  t.ok(after - before < limit, `RSS grew ${mb(after - before)} (from ${mb(before)} to ${mb(after)}), less than ${mb(limit)}`)
  t.ok(peak - before < limit, `peak RSS was ${mb(peak - before)} above the start (${peakReset ? 'VmHWM reset' : 'sampled every 10 ms'}), less than ${mb(limit)}`)
})

t.test('an upstream with a base path, and a trust_proxy list', async (t) => {
  const up = await startUpstream(t)
  const tg = await startTollgate(t, { configYaml: configYaml(`${up.url}/base`, ['trust_proxy: [ 127.0.0.2 ]']) })

  t.test('the base path prefixes every path; the query stays as it was', async (t) => {
    const targets: Array<[string, string]> = [['/', '/base/'], ['/x/y?z=1&z=2', '/base/x/y?z=1&z=2'], ['/q?', '/base/q?']]
    for (const [target, expected] of targets) {
      const res = await nodeRequest(tg.proxyUrl, target, { headers: KEY })
      t.equal(res.status, 200, target)
      t.equal((res.json() as EchoBody).url, expected)
    }
  })

  const forwarded = { ...KEY, 'x-forwarded-for': '198.51.100.7', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'app.example' }

  t.test('a trusted proxy\'s x-forwarded-proto/host are kept', async (t) => {
    const res = await nodeRequest(tg.proxyUrl, '/fwd', { headers: forwarded, localAddress: '127.0.0.2' })
    t.match(res.json(), { headers: { 'x-forwarded-for': '198.51.100.7, 127.0.0.2', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'app.example' } })
  })

  // Regression: any `trust_proxy` list made every client trusted for proto and host,
  // whatever its address.
  t.test('a client outside the list cannot set x-forwarded-proto/host', async (t) => {
    const res = await nodeRequest(tg.proxyUrl, '/fwd', { headers: forwarded })
    t.match(res.json(), { headers: { 'x-forwarded-for': '198.51.100.7, 127.0.0.1', 'x-forwarded-proto': 'http', 'x-forwarded-host': new URL(tg.proxyUrl).host } })
  })
})

t.test('upstream failures become small JSON errors', async (t) => {
  const up = await startUpstream(t, {
    handle: (req) => {
      if (req.url !== '/reset') return false
      req.socket.destroy()
      return true
    }
  })
  // One at a time: a child's start is CPU-bound (it compiles the TypeScript).
  const down = await startTollgate(t, { configYaml: configYaml(`http://127.0.0.1:${await deadPort()}`) })
  const slow = await startTollgate(t, { configYaml: configYaml(`{ url: "${up.url}", timeout: 500ms }`) })
  const none = await startTollgate(t, { configYaml: configYaml(undefined) })

  const assertError = (t: Test, res: { status: number, headers: IncomingHttpHeaders, json(): unknown }, status: number, error: string, limited = true): void => {
    t.equal(res.status, status)
    t.equal(res.headers['content-type'], 'application/json; charset=utf-8')
    t.same(Object.keys(res.json() as object).sort(), ['error', 'message'], 'a small body: error and message, no stack')
    t.match(res.json(), { error, message: /\w/ })
    if (limited) assertRateLimitHeaders(t, res.headers)
  }

  t.test('nothing listening on the upstream port → 502 upstream_unavailable', async (t) => {
    assertError(t, await get(`${down.proxyUrl}/anything`, KEY), 502, 'upstream_unavailable')
    assertError(t, await send('POST', `${down.proxyUrl}/upload`, { ...KEY, 'content-type': 'text/plain' }, 'x'.repeat(200_000)), 502, 'upstream_unavailable')
  })

  t.test('the app resets the connection → 502 upstream_unavailable', async (t) => {
    assertError(t, await get(`${slow.proxyUrl}/reset`, KEY), 502, 'upstream_unavailable')
    const next = await get(`${slow.proxyUrl}/after-reset`, KEY)
    t.equal(next.status, 200, 'the next request gets a fresh connection')
  })

  t.test('no response headers within upstream.timeout → 504 upstream_timeout, promptly', async (t) => {
    const started = Date.now()
    const res = await get(`${slow.proxyUrl}/slow/3000`, KEY)
    const elapsed = Date.now() - started
    assertError(t, res, 504, 'upstream_timeout')
    t.ok(elapsed >= 450, `not before the 500 ms timeout (${elapsed} ms)`)
    t.ok(elapsed < 2000, `well before the app's 3 s (${elapsed} ms)`)

    const quick = await get(`${slow.proxyUrl}/slow/50`, KEY)
    t.equal(quick.status, 200, 'an app within the timeout is answered as usual')
    t.same(quick.json(), { slow: 50 })
  })

  t.test('no upstream configured: the proxy port is the decision API, and forwards nothing → 404 not_found', async (t) => {
    assertError(t, await get(`${none.proxyUrl}/anything`, KEY), 404, 'not_found', false)
    assertError(t, await send('POST', `${none.proxyUrl}/upload`, { ...KEY, 'content-type': 'text/plain' }, 'x'.repeat(200_000)), 404, 'not_found', false)
  })

  t.test('tollgate still runs after every failure', async (t) => {
    for (const tg of [down, slow, none]) t.ok(alive(tg.pid), `pid ${tg.pid}`)
  })
})
