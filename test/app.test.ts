import t, { type Test } from 'tap'
import type { App } from '../src/app'
import { buildTestApp, testConfig } from './helpers/app'
import { startUpstream, type Upstream } from './helpers/upstream'

// buildApp in this process, answered by fastify.inject: no CLI, no listening socket
// on tollgate's side; the upstream is a real server. What a client sees of identity,
// route rules, the limiter and the response headers, and what the admin port reports.

interface Built { app: App, upstream: Upstream }

async function build (t: Test, body: string): Promise<Built> {
  const upstream = await startUpstream(t)
  const { app } = await buildTestApp(t, testConfig(`upstream: ${upstream.url}\n${body}`))
  return { app, upstream }
}

const CONFIG = `plans:
  free: [ { max: 2, per: 1m } ]
keys: [ { name: acme, key: acme-app-key-5d1f, plan: free } ]
routes:
  - { match: "GET /healthz", limit: false }
  - { match: "GET /costly", cost: 2 }`
const KEY = { 'x-api-key': 'acme-app-key-5d1f' }

t.test('identity: no key is 401 api_key_required, an unknown key 401 invalid_api_key, a bad one 400; none reaches the app', async (t) => {
  const { app, upstream } = await build(t, CONFIG)
  const none = await app.proxy.inject({ url: '/a' })
  t.equal(none.statusCode, 401)
  t.match(none.json(), { error: 'api_key_required', message: /API key is required/ })
  const unknown = await app.proxy.inject({ url: '/a', headers: { 'x-api-key': 'nobody-key-0000' } })
  t.equal(unknown.statusCode, 401)
  t.equal(unknown.json().error, 'invalid_api_key')
  t.notMatch(unknown.body, /nobody-key/, 'the key is not echoed')
  const twoKeys = await app.proxy.inject({ url: '/a', headers: { 'x-api-key': 'acme-app-key-5d1f', authorization: 'Bearer other-key-1234' } })
  t.equal(twoKeys.statusCode, 400)
  t.equal(twoKeys.json().error, 'malformed_api_key')
  t.equal(upstream.requests.length, 0, 'nothing was forwarded')
})

t.test('the limiter and its headers: max requests forwarded with RateLimit fields, then 429 with Retry-After', async (t) => {
  const { app, upstream } = await build(t, CONFIG)
  const first = await app.proxy.inject({ url: '/a', headers: KEY })
  t.equal(first.statusCode, 200)
  t.equal(first.headers['ratelimit-policy'], '"free-1m";q=2;w=60')
  t.match(first.headers.ratelimit, /^"free-1m";r=1;t=\d+$/)
  t.equal(first.headers['x-ratelimit-limit'], '2')
  t.equal(first.headers['x-ratelimit-remaining'], '1')
  t.equal(first.headers['x-tollgate-client'], undefined, 'the proxy does not tell the client its name')
  t.equal(upstream.requests[0]?.headers['x-api-key'], undefined, 'the key is not forwarded')
  t.equal((await app.proxy.inject({ url: '/b', headers: KEY })).statusCode, 200)
  const refused = await app.proxy.inject({ url: '/c', headers: KEY })
  t.equal(refused.statusCode, 429)
  t.match(refused.json(), { error: 'rate_limited', message: 'Rate limit exceeded.' })
  t.ok(Number(refused.headers['retry-after']) >= 1, 'Retry-After in seconds')
  t.equal(refused.headers['x-ratelimit-remaining'], '0')
  t.equal(upstream.requests.length, 2, 'the app saw exactly max')
})

t.test('route rules: limit: false spends nothing and needs no key; cost is spent at once; HEAD is GET', async (t) => {
  const { app, upstream } = await build(t, CONFIG)
  for (let i = 0; i < 3; i++) {
    const free = await app.proxy.inject({ url: '/healthz' })
    t.equal(free.statusCode, 200, `limit: false, request ${i + 1}`)
    t.equal(free.headers['ratelimit-policy'], undefined, 'no limit headers on an unlimited route')
  }
  const costly = await app.proxy.inject({ method: 'HEAD', url: '/costly', headers: KEY })
  t.equal(costly.statusCode, 200, 'HEAD takes the GET rule')
  t.equal(costly.headers['x-ratelimit-remaining'], '0', 'cost 2 of max 2')
  t.equal((await app.proxy.inject({ url: '/other', headers: KEY })).statusCode, 429, 'nothing left for any path')
  t.equal(upstream.requests.filter((r) => r.url === '/healthz').length, 3)
})

t.test('admin: /health/live answers, /metrics counts the decisions by client and the proxy requests by route', async (t) => {
  const { app } = await build(t, CONFIG)
  await app.proxy.inject({ url: '/a', headers: KEY })
  await app.proxy.inject({ url: '/healthz' })
  t.equal((await app.admin.inject({ url: '/health/live' })).statusCode, 200)
  const metrics = (await app.admin.inject({ url: '/metrics' })).body
  t.match(metrics, /^tollgate_ratelimit_decisions_total\{client="acme",plan="free",decision="allowed"\} 1$/m)
  t.match(metrics, /^tollgate_http_requests_total\{listener="proxy",method="GET",route="GET \/healthz",status_code="200"\} 1$/m)
  t.notMatch(metrics, /acme-app-key/, 'no key in a label')
  t.equal((await app.proxy.inject({ url: '/metrics' })).statusCode, 401, 'the admin routes are not on the proxy port')
})
