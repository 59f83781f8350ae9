import t from 'tap'
import type { Tollgate } from '../helpers/child'
import { get, send } from '../helpers/http'
import type { EchoBody, Upstream } from '../helpers/upstream'
import { pseudoRandomSha256 } from '../helpers/bytes'
import { nodeRequest } from './forward-client'
import { assertRateLimitHeaders, KEY, last, sha256, startForwarding } from './forward-kit'

// Forwarding, the request side: paths, queries, methods and bodies reach the app as
// sent, and the app's statuses come back (forward-kit.ts starts the processes).

let up: Upstream
let tg: Tollgate
t.before(async () => { ({ up, tg } = await startForwarding(t)) })

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
