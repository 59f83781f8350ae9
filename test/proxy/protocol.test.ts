import t from 'tap'
import type { Test } from 'tap'
import { inProcess, type InProcess } from '../helpers/app'
import { parseSamples, valueOf } from '../helpers/metrics'
import { rawExchange } from '../helpers/raw'
import { startUpstream, type Upstream } from '../helpers/upstream'

/*
 * What Node's HTTP server answers before Fastify sees a request (issue 9, finding 6):
 * a malformed request, headers past 16 KiB, CONNECT, `OPTIONS *`. Each gets tollgate's
 * JSON shape, a count with `route="malformed"` and one log line without the request's
 * bytes. Over raw sockets: no HTTP client sends these.
 */

const SECRET = 'acme-secret-key-0123456789'

async function setUp (t: Test): Promise<{ app: InProcess, upstream: Upstream }> {
  const upstream = await startUpstream(t)
  const app = await inProcess(t, `
upstream: ${upstream.url}
plans: { free: [ { max: 100, per: 1m } ], anonymous: [ { max: 100, per: 1m } ] }
keys: [ { name: acme, key: ${SECRET}, plan: free } ]
`)
  return { app, upstream }
}

const requests = async (app: InProcess, labels: Record<string, string | number>): Promise<number | undefined> =>
  valueOf(parseSamples(await app.metricsText()), 'tollgate_http_requests_total', labels)

const json = (body: string): unknown => JSON.parse(body)

t.test('a malformed request gets tollgate\'s 400, is counted and logged without its bytes', async (t) => {
  const { app, upstream } = await setUp(t)
  const malformed = [
    'GARBAGE\r\n\r\n',
    `get / HTTP/1.1\r\nhost: x\r\nx-api-key: ${SECRET}\r\n\r\n`,
    `GET / HTTP/1.1\r\nhost: x\r\nx-api-key: ${SECRET}\r\nbad header: 1\r\n\r\n`,
    // a smuggling probe: both framings at once
    `POST / HTTP/1.1\r\nhost: x\r\nx-api-key: ${SECRET}\r\ncontent-length: 4\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n`
  ]
  for (const request of malformed) {
    const res = await rawExchange(app.proxyPort, request)
    t.equal(res.status, 400, JSON.stringify(request.slice(0, 20)))
    t.equal(res.headers['content-type'], 'application/json; charset=utf-8')
    t.strictSame(json(res.body), { error: 'bad_request', message: 'The request is malformed.' })
    t.ok(res.closed, 'the connection is closed: its framing cannot be trusted')
  }
  t.equal(await requests(app, { listener: 'proxy', method: 'unknown', route: 'malformed', status_code: 400 }), malformed.length)
  const lines = app.logs.filter((l) => l.route === 'malformed')
  t.equal(lines.length, malformed.length, 'one log line each')
  t.match(lines[0], { listener: 'proxy', status: 400, error: 'bad_request', parseError: /^HPE_/ })
  t.notOk(JSON.stringify(app.logs).includes(SECRET), 'the key sent with them is in no log line')
  t.equal(upstream.requests.length, 0)
})

t.test('a 20 kB header gets tollgate\'s 431, counted and logged without its value', async (t) => {
  const { app } = await setUp(t)
  const huge = 'v'.repeat(20_000)
  const res = await rawExchange(app.proxyPort, `GET / HTTP/1.1\r\nhost: x\r\nx-api-key: ${SECRET}\r\nx-big: ${huge}\r\n\r\n`)
  t.equal(res.status, 431)
  t.strictSame(json(res.body), { error: 'headers_too_large', message: 'The request line and headers are too large.' })
  t.equal(await requests(app, { listener: 'proxy', method: 'unknown', route: 'malformed', status_code: 431 }), 1)
  t.match(app.logs.find((l) => l.route === 'malformed'), { status: 431, error: 'headers_too_large', parseError: 'HPE_HEADER_OVERFLOW' })
  const logged = JSON.stringify(app.logs)
  t.notOk(logged.includes('vvvvvvvv') || logged.includes(SECRET), 'no header value in the log')
})

t.test('CONNECT gets a 405 with Allow instead of a dropped connection', async (t) => {
  const { app, upstream } = await setUp(t)
  const res = await rawExchange(app.proxyPort, 'CONNECT example.com:443 HTTP/1.1\r\nhost: example.com:443\r\n\r\n')
  t.equal(res.status, 405)
  t.match(json(res.body), { error: 'method_not_allowed' })
  t.match(res.headers.allow, /\bGET\b.*\bPOST\b/)
  t.notMatch(res.headers.allow, /CONNECT/)
  t.equal(await requests(app, { listener: 'proxy', method: 'CONNECT', route: 'malformed', status_code: 405 }), 1)
  t.equal(upstream.requests.length, 0)
  // The admin port refuses it the same way.
  const admin = await rawExchange(app.adminPort, 'CONNECT example.com:443 HTTP/1.1\r\nhost: example.com:443\r\n\r\n')
  t.equal(admin.status, 405)
  t.equal(await requests(app, { listener: 'admin', method: 'CONNECT', route: 'malformed', status_code: 405 }), 1)
})

t.test('OPTIONS * is answered by tollgate: not a 502, not an upstream error', async (t) => {
  const { app, upstream } = await setUp(t)
  const res = await rawExchange(app.proxyPort, 'OPTIONS * HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n')
  t.equal(res.status, 200)
  t.equal(res.headers['content-length'], '0')
  t.equal(upstream.requests.length, 0, 'nothing forwarded')
  const samples = parseSamples(await app.metricsText())
  t.equal(valueOf(samples, 'tollgate_http_requests_total', { listener: 'proxy', method: 'OPTIONS', route: 'default', status_code: 200 }), 1)
  t.equal(samples.some((s) => s.name === 'tollgate_http_requests_total' && s.labels.status_code === '502'), false, 'no 502')
  // Any other method with `*` is no path at all.
  const get = await rawExchange(app.proxyPort, 'GET * HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n')
  t.equal(get.status, 400)
  t.match(json(get.body), { error: 'invalid_path' })
})

t.test('a URL Fastify cannot decode is counted too', async (t) => {
  const { app } = await setUp(t)
  const res = await rawExchange(app.proxyPort, 'GET /%zz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n')
  t.equal(res.status, 400)
  t.match(json(res.body), { error: 'bad_request' })
  t.equal(await requests(app, { listener: 'proxy', method: 'GET', route: 'malformed', status_code: 400 }), 1)
})

t.test('the admin port answers unknown paths and malformed requests in tollgate\'s JSON', async (t) => {
  const { app } = await setUp(t)
  const missing = await rawExchange(app.adminPort, 'GET /nope HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n')
  t.equal(missing.status, 404)
  t.strictSame(json(missing.body), { error: 'not_found', message: 'No such endpoint on the admin port.' })
  const wrongMethod = await rawExchange(app.adminPort, 'DELETE /metrics HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n')
  t.equal(wrongMethod.status, 404)
  t.match(json(wrongMethod.body), { error: 'not_found' })
  const garbage = await rawExchange(app.adminPort, 'GARBAGE\r\n\r\n')
  t.equal(garbage.status, 400)
  t.match(json(garbage.body), { error: 'bad_request' })
  t.equal(await requests(app, { listener: 'admin', method: 'unknown', route: 'malformed', status_code: 400 }), 1)
})
