import fc from 'fast-check'
import t from 'tap'
import type { Test } from 'tap'
import { ERRORS, type ErrorCode } from '../../src/errors'
import { inProcess, type InProcess } from '../helpers/app'
import { rawExchange, type RawResponse } from '../helpers/raw'
import { startUpstream, type Upstream } from '../helpers/upstream'
import { CASE_MS, fuzzRuns } from './runs'
import { anyTarget, spellingOf } from './targets'

/*
 * Issue 13, fuzzing: request identity and route matching, on the real proxy and the real
 * decision API in this process, over raw sockets (an HTTP client would refuse or
 * normalise most of what is sent here). Whatever a client writes, the answer is a 2xx
 * from the app (or the decision API) or a 4xx JSON error of tollgate's table: never a
 * 5xx, never silence, never a crash. And no spelling of a limited path escapes its rule.
 */

// trust_proxy: true, so that random x-forwarded-for values reach the client-IP parsing;
// a plan and a key named like Object.prototype members, for lookups in plain objects.
const RULES = `
listen: { decision: 127.0.0.1:0 }
trust_proxy: true
plans:
  anonymous: [ { max: 1000000, per: 1m } ]
  free: [ { max: 1000000, per: 1m } ]
  constructor: [ { max: 1000000, per: 1m } ]
keys:
  - { name: acme, key: acme-key, plan: free }
  - { name: toString, key: proto-key, plan: constructor }
routes:
  # A day: the budget spent in the test does not come back during a long TOLLGATE_FUZZ_RUNS hunt.
  - { match: "GET /expensive", plans: { free: [ { max: 3, per: 1d } ], anonymous: [ { max: 3, per: 1d } ] } }
  - { match: "POST /upload/*", cost: 10 }
  - { match: "GET /public/*", limit: false }
`
const ROUTE_WINDOW = /"(free|anonymous) GET \/expensive-1d";q=3;w=86400/

interface Setup { app: InProcess, upstream: Upstream, decisionPort: number }

/** The app answers everything 200 with a marker, so that any other answer is tollgate's. */
async function setUp (t: Test): Promise<Setup> {
  const upstream = await startUpstream(t, {
    handle: (req, res) => {
      req.resume()
      req.once('end', () => res.writeHead(200, { 'x-app': 'yes', 'content-type': 'text/plain' }).end('app'))
      req.on('error', () => {})
      return true
    }
  })
  const app = await inProcess(t, `upstream: ${upstream.url}\n${RULES}`)
  if (app.decisionUrl === undefined) throw new Error('no decision listener')
  return { app, upstream, decisionPort: Number(new URL(app.decisionUrl).port) }
}

type Header = readonly [name: string, value: string]

/** One request, its target in UTF-8 and its header values byte for byte (latin1). */
async function send (port: number, method: string, target: string, headers: readonly Header[], body = Buffer.alloc(0)): Promise<RawResponse> {
  const head = Buffer.concat([
    Buffer.from(`${method} `, 'latin1'), Buffer.from(target, 'utf8'), Buffer.from(` HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-length: ${body.length}\r\n`, 'latin1'),
    ...headers.map(([name, value]) => Buffer.from(`${name}: ${value}\r\n`, 'latin1')),
    Buffer.from('\r\n', 'latin1'),
    body
  ])
  return await rawExchange(port, head, CASE_MS)
}

const describe = (method: string, target: string, headers: readonly Header[], res: RawResponse): string =>
  `${method} ${JSON.stringify(target)} ${JSON.stringify(headers)} → ${JSON.stringify(res.text.slice(0, 400))}`

/**
 * Throws unless `res` is a 2xx that `fromUs` accepts, or a 4xx with tollgate's error body
 * (its code in the table, at the table's status; HEAD answers carry no body).
 */
function assertClearAnswer (res: RawResponse, method: string, fromUs: (res: RawResponse) => boolean, what: string): void {
  if (Number.isNaN(res.status)) throw new Error(`no answer: ${what}`)
  if (res.status >= 200 && res.status < 300) {
    if (!fromUs(res)) throw new Error(`a 2xx that is not the app's: ${what}`)
    return
  }
  if (res.status < 400 || res.status >= 500) throw new Error(`status ${res.status}: ${what}`)
  if (method === 'HEAD' && res.body === '') return
  let body: unknown
  try {
    body = JSON.parse(res.body)
  } catch {
    throw new Error(`a ${res.status} without a JSON body: ${what}`)
  }
  const error = field(body, 'error')
  const message = field(body, 'message')
  const known = typeof error === 'string' && isErrorCode(error) ? ERRORS[error] : undefined
  if (known === undefined || typeof message !== 'string') throw new Error(`not tollgate's error shape: ${what}`)
  if (known.status !== res.status) throw new Error(`${String(error)} answered ${res.status}, not ${known.status}: ${what}`)
}

const field = (value: unknown, name: string): unknown =>
  typeof value === 'object' && value !== null ? Object.getOwnPropertyDescriptor(value, name)?.value : undefined
const isErrorCode = (code: string): code is ErrorCode => Object.hasOwn(ERRORS, code)

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH', 'get', 'G\u00e9T', 'BREW', 'CONNECT', 'TRACE', 'M-SEARCH', '']

/** Header values of any byte, the control bytes and the separators most of all. */
const headerValue = fc.oneof(
  fc.string({ unit: fc.integer({ min: 0, max: 255 }).map((code) => String.fromCharCode(code)), maxLength: 40 }),
  fc.constantFrom('acme-key', 'Bearer acme-key', 'proto-key', 'Bearer proto-key', '1.2.3.4', '::1, 10.0.0.1', 'unknown', '[::1]:80', 'bearer acme-key', 'BEARER  acme-key ', 'Bearer', 'Bearer ', 'Basic YTpi', 'Bearer acme-key, Bearer x',
    'acme-key\u0000', ' acme-key', 'acme-key,acme-key', 'x'.repeat(300), 'x'.repeat(70000), '\u00e9', '', 'Bearer\tacme-key'),
  fc.stringMatching(/^[\x21-\x7e]{1,300}$/)
)

/** The credential headers in their cases, repeated, and others; never the framing ones (a random `content-length` only makes the client wait). */
const headerName = fc.oneof(
  fc.constantFrom('x-api-key', 'X-API-KEY', 'X-Api-Key', 'authorization', 'Authorization', 'AUTHORIZATION', 'x-forwarded-for', 'x-original-uri',
    'x-forwarded-uri', 'x-original-method', 'x-forwarded-method', 'x-api-key ', 'x-api\u0000key', 'x api key', ''),
  fc.stringMatching(/^[a-z0-9-]{1,20}$/).filter((name) => !['content-length', 'transfer-encoding', 'connection', 'expect', 'upgrade', 'host', 'te'].includes(name))
)

const headers = fc.array(fc.tuple(headerName, headerValue), { maxLength: 6 })

const fromApp = (res: RawResponse): boolean => res.headers['x-app'] === 'yes'
/** An allowed decision: 200, empty, and the client named. */
const allowedDecision = (res: RawResponse): boolean => res.status === 200 && res.body === '' && res.headers['x-tollgate-client'] !== undefined

t.test('random methods, targets and headers at the proxy: the app\'s 2xx or a clear 4xx', async (t) => {
  const { app } = await setUp(t)
  await fc.assert(fc.asyncProperty(fc.constantFrom(...METHODS), anyTarget, headers, async (method, target, sent) => {
    const res = await send(app.proxyPort, method, target, sent)
    // `OPTIONS *` asks about the server, not a resource: tollgate answers it itself.
    const fromUs = (answer: RawResponse): boolean => fromApp(answer) || (method === 'OPTIONS' && target === '*' && answer.status === 200)
    assertClearAnswer(res, method, fromUs, describe(method, target, sent, res))
  }), { numRuns: fuzzRuns(400) })
  t.same(app.logs.filter((line) => Number(line.level) >= 50), [], 'nothing logged as an error')
})

t.test('random original requests at the decision API: 200 or a clear 4xx', async (t) => {
  const { app, decisionPort } = await setUp(t)
  const question = fc.oneof(
    // nginx and Traefik: the original request in headers.
    fc.tuple(anyTarget, headers, fc.constantFrom('x-original-uri', 'x-forwarded-uri', 'X-Original-URI'), fc.constantFrom(undefined, ...METHODS))
      .map(([uri, sent, name, method]): [string, Header[]] => ['/v1/authorize', [[name, uri], ...(method === undefined ? [] : [['x-original-method', method] as const]), ...sent]]),
    // Envoy: the original path after the prefix.
    fc.tuple(anyTarget, headers).map(([path, sent]): [string, Header[]] => [`/v1/authorize${path.startsWith('/') ? '' : '/'}${path}`, sent])
  )
  await fc.assert(fc.asyncProperty(fc.constantFrom('GET', 'POST', 'HEAD', 'PUT'), question, async (method, [target, sent]) => {
    const res = await send(decisionPort, method, target, sent)
    assertClearAnswer(res, method, allowedDecision, describe(method, target, sent, res))
  }), { numRuns: fuzzRuns(400) })
  t.same(app.logs.filter((line) => Number(line.level) >= 50), [], 'nothing logged as an error')
})

t.test('random bodies at POST /v1/check: a JSON decision or a clear 4xx', async (t) => {
  const { app, decisionPort } = await setUp(t)
  const fieldValue = fc.oneof(fc.jsonValue({ maxDepth: 2 }), headerValue, anyTarget, fc.constantFrom('acme-key', 'proto-key', '127.0.0.1', '::1', 'GET', 'get', 'HEAD'),
    fc.integer(), fc.constantFrom(0, -1, 1e9, 1e9 + 1, 2 ** 53, 1.5))
  const checkBody = fc.record({ key: fieldValue, ip: fieldValue, method: fieldValue, path: fc.oneof(anyTarget, fieldValue), cost: fieldValue, dry_run: fieldValue, extra: fieldValue },
    { requiredKeys: ['path'] })
  const body = fc.oneof(checkBody.map((value) => JSON.stringify(value)), fc.jsonValue().map((value) => JSON.stringify(value)),
    fc.string({ unit: 'binary', maxLength: 200 }), fc.constantFrom('{"path": "/x", "key": "' + 'k'.repeat(5000) + '"}', '{"path": "/x", "cost": 1e400}', '{"path": "/x", "__proto__": {"dry_run": true}}'))
  const contentType = fc.constantFrom('application/json', 'application/json; charset=utf-8', 'APPLICATION/JSON', 'text/plain', 'application/json; charset=latin1', '')
  await fc.assert(fc.asyncProperty(body, contentType, async (text, type) => {
    const sent: Header[] = type === '' ? [] : [['content-type', type]]
    const res = await send(decisionPort, 'POST', '/v1/check', sent, Buffer.from(text, 'utf8'))
    const decided = (answer: RawResponse): boolean => answer.status === 200 && typeof field(parseOrUndefined(answer.body), 'allowed') === 'boolean'
    assertClearAnswer(res, 'POST', decided, describe('POST', '/v1/check', sent, res) + ` body ${JSON.stringify(text.slice(0, 200))}`)
  }), { numRuns: fuzzRuns(400) })
  t.same(app.logs.filter((line) => Number(line.level) >= 50), [], 'nothing logged as an error')
})

const parseOrUndefined = (text: string): unknown => {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

const KEYS: ReadonlyArray<readonly Header[]> = [[], [['x-api-key', 'acme-key']], [['Authorization', 'Bearer acme-key']]]

t.test('every spelling of /expensive, at the proxy, is under the rule for /expensive', async (t) => {
  const { app, upstream } = await setUp(t)
  await fc.assert(fc.asyncProperty(spellingOf('/expensive'), fc.constantFrom('GET', 'HEAD'), fc.constantFrom(...KEYS), async ({ target, query }, method, key) => {
    const res = await send(app.proxyPort, method, target, key)
    const what = describe(method, target, key, res)
    if (res.status !== 200 && res.status !== 429) throw new Error(`neither allowed nor limited: ${what}`)
    if (!ROUTE_WINDOW.test(res.headers['ratelimit-policy'] ?? '')) throw new Error(`not under the route's window: ${what}`)
    if (res.status === 200) {
      const reached = upstream.requests.at(-1)?.url
      if (reached?.toLowerCase() !== `/expensive${query}`) throw new Error(`the app got ${reached ?? 'nothing'}: ${what}`)
    }
  }), { numRuns: fuzzRuns(150) })
  t.equal(upstream.requests.length, 3 * 2, 'the route\'s budget, for each of the two clients, and not a request more reached the app')
})

t.test('every spelling of /expensive, at the decision API, is under the rule for /expensive', async (t) => {
  const { decisionPort, upstream } = await setUp(t)
  const asked = fc.tuple(spellingOf('/expensive'), fc.constantFrom('nginx', 'traefik', 'envoy'))
  let allowed = 0
  await fc.assert(fc.asyncProperty(asked, fc.constantFrom(...KEYS), async ([{ target }, gateway], key) => {
    const [path, extra]: [string, Header[]] = gateway === 'envoy' && target.startsWith('/')
      ? [`/v1/authorize${target}`, []]
      : ['/v1/authorize', [[gateway === 'traefik' ? 'x-forwarded-uri' : 'x-original-uri', target], [gateway === 'traefik' ? 'x-forwarded-method' : 'x-original-method', 'GET']]]
    const res = await send(decisionPort, 'GET', path, [...extra, ...key])
    const what = describe('GET', path, [...extra, ...key], res)
    if (res.status !== 200 && res.status !== 429) throw new Error(`neither allowed nor limited: ${what}`)
    if (!ROUTE_WINDOW.test(res.headers['ratelimit-policy'] ?? '')) throw new Error(`not under the route's window: ${what}`)
    if (res.status === 200) allowed++
  }), { numRuns: fuzzRuns(150) })
  t.equal(allowed, 3 * 2, 'the route\'s budget, for each of the two clients, and not a decision more was allowed')
  t.equal(upstream.requests.length, 0, 'no decision reached the app')
})
