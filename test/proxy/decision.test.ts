import t from 'tap'
import { inProcess, type InProcess } from '../helpers/app'
import { parseSamples, valueOf } from '../helpers/metrics'
import { deadPort, startUpstream } from '../helpers/upstream'

/*
 * The decision API's route logic, on real sockets in this process: what nginx, Traefik
 * and Envoy each send (test/proxy/gateways.test.ts reproduces their exact shapes; the
 * real nginx is in test/proxy/nginx.test.ts), and POST /v1/check.
 */

const RULES = `
plans:
  anonymous: [ { max: 2, per: 1m } ]
  free: [ { max: 3, per: 1m } ]
keys:
  - { name: acme, key: acme-key, plan: free }
  - { name: beta, key: beta-key, plan: free }
routes:
  - { match: "GET /expensive", plans: { free: [ { max: 1, per: 1m } ] } }
  - { match: "POST /upload/*", cost: 3 }
  - { match: "GET /public/*", limit: false }
`

interface Answer { status: number, headers: Headers, text: string }

async function ask (url: string, init: RequestInit = {}): Promise<Answer> {
  const res = await fetch(url, init)
  return { status: res.status, headers: res.headers, text: await res.text() }
}

/** nginx's shape: a GET to /v1/authorize with the client's headers and the original request in X-Original-*. */
async function nginx (app: InProcess, method: string, uri: string, headers: Record<string, string> = {}): Promise<Answer> {
  return await ask(`${app.proxyUrl}/v1/authorize`, { headers: { 'x-original-method': method, 'x-original-uri': uri, ...headers } })
}

async function check (app: InProcess, body: unknown): Promise<{ status: number, json: Record<string, unknown> }> {
  const res = await fetch(`${app.proxyUrl}/v1/check`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
  return { status: res.status, json: await res.json() as Record<string, unknown> }
}

const ACME = { 'x-api-key': 'acme-key' }

t.test('without an upstream the proxy listener answers decisions', async (t) => {
  const app = await inProcess(t, RULES)

  t.test('allowed: 200, empty body, RateLimit and identity headers', async (t) => {
    const res = await nginx(app, 'GET', '/orders', ACME)
    t.equal(res.status, 200)
    t.equal(res.text, '')
    t.equal(res.headers.get('x-tollgate-client'), 'acme')
    t.equal(res.headers.get('x-tollgate-plan'), 'free')
    t.equal(res.headers.get('ratelimit'), '"free-1m";r=2;t=20')
    t.match(res.headers.get('ratelimit-policy'), /"free-1m";q=3;w=60/)
  })

  t.test('refused: 429 with the proxy\'s body and Retry-After, once the key is spent', async (t) => {
    t.equal((await nginx(app, 'GET', '/orders', ACME)).status, 200)
    t.equal((await nginx(app, 'GET', '/orders', ACME)).status, 200)
    const res = await nginx(app, 'GET', '/orders', ACME)
    t.equal(res.status, 429)
    t.match(JSON.parse(res.text), { error: 'rate_limited', policy: 'free-1m' })
    t.ok(Number(res.headers.get('retry-after')) >= 1, 'Retry-After')
    t.equal(res.headers.get('x-tollgate-client'), 'acme')
  })

  t.test('route rules match the original request, not /v1/authorize', async (t) => {
    const beta = { 'x-api-key': 'beta-key' }
    t.equal((await nginx(app, 'GET', '/expensive', beta)).status, 200)
    t.equal((await nginx(app, 'GET', '/expensive', beta)).status, 429, 'the route\'s own 1/min window')
    t.equal((await nginx(app, 'GET', '/./expensive?x=1', beta)).status, 429, 'on the normalised path')
    t.equal((await nginx(app, 'HEAD', '/expensive', beta)).status, 429, 'HEAD is GET')
    t.equal((await nginx(app, 'GET', '/public/x')).status, 200, 'limit: false needs no key')
    t.equal((await nginx(app, 'GET', '/public/../expensive', beta)).status, 429, 'no escape through a limit: false prefix')
    const bad = await nginx(app, 'GET', '/public/%2e%2e%2fexpensive', beta)
    t.equal(bad.status, 400)
    t.match(JSON.parse(bad.text), { error: 'invalid_path' })
  })

  t.test('the cost of the original route is spent', async (t) => {
    const fresh = await inProcess(t, RULES)
    const res = await nginx(fresh, 'POST', '/upload/a', ACME)
    t.equal(res.status, 200)
    t.equal(res.headers.get('x-ratelimit-remaining'), '0', 'cost 3 of 3')
    t.equal((await nginx(fresh, 'GET', '/orders', ACME)).status, 429)
  })

  t.test('unknown key 401, malformed key 400, no key: anonymous by IP', async (t) => {
    const unknown = await nginx(app, 'GET', '/orders', { 'x-api-key': 'nope' })
    t.equal(unknown.status, 401)
    t.match(JSON.parse(unknown.text), { error: 'invalid_api_key' })
    t.notMatch(unknown.text, /nope/, 'the key is not echoed')
    const malformed = await nginx(app, 'GET', '/orders', { 'x-api-key': 'a'.repeat(300) })
    t.equal(malformed.status, 400)
    t.match(JSON.parse(malformed.text), { error: 'malformed_api_key' })
    const anon = await nginx(app, 'GET', '/orders')
    t.equal(anon.status, 200)
    t.equal(anon.headers.get('x-tollgate-client'), 'anonymous')
  })

  t.test('no original request, or two that disagree: 400, never a guess', async (t) => {
    const none = await ask(`${app.proxyUrl}/v1/authorize`, { headers: ACME })
    t.equal(none.status, 400)
    t.match(JSON.parse(none.text), { error: 'bad_request', message: /X-Original-URI/ })
    // A client behind Traefik adds X-Original-URI to be judged on a free path.
    const smuggled = await ask(`${app.proxyUrl}/v1/authorize`, {
      headers: { ...ACME, 'x-forwarded-method': 'GET', 'x-forwarded-uri': '/expensive', 'x-original-uri': '/public/x' }
    })
    t.equal(smuggled.status, 400)
    const methods = await ask(`${app.proxyUrl}/v1/authorize`, {
      headers: { ...ACME, 'x-original-uri': '/expensive', 'x-original-method': 'GET', 'x-forwarded-method': 'POST' }
    })
    t.equal(methods.status, 400)
    const badMethod = await nginx(app, 'G E T', '/orders', ACME)
    t.equal(badMethod.status, 400)
  })

  t.test('other paths: 404 JSON', async (t) => {
    const res = await ask(`${app.proxyUrl}/orders`, { headers: ACME })
    t.equal(res.status, 404)
    t.match(JSON.parse(res.text), { error: 'not_found', message: /\/v1\/authorize/ })
  })

  t.test('decisions are counted with listener="decision" and the original route', async (t) => {
    const samples = parseSamples(await app.metricsText())
    t.ok((valueOf(samples, 'tollgate_http_requests_total', { listener: 'decision', method: 'GET', route: 'GET /expensive', status_code: '429' }) ?? 0) >= 1)
    t.ok((valueOf(samples, 'tollgate_ratelimit_decisions_total', { client: 'acme', plan: 'free', decision: 'limited' }) ?? 0) >= 1)
    t.equal(valueOf(samples, 'tollgate_http_requests_total', { listener: 'proxy', method: 'GET', route: 'default', status_code: '200' }), undefined, 'nothing on listener="proxy"')
  })
})

t.test('POST /v1/check: JSON in, JSON out', async (t) => {
  const app = await inProcess(t, RULES)

  t.test('a dry run tells exactly what the real check would, and spends nothing', async (t) => {
    const dry = await check(app, { key: 'acme-key', method: 'GET', path: '/orders', dry_run: true })
    t.equal(dry.status, 200)
    t.same(dry.json, { allowed: true, outcome: 'allowed', client: 'acme', plan: 'free', retry_after: 0, windows: [{ policy: 'free-1m', max: 3, remaining: 2, reset: 20 }] })
    const again = await check(app, { key: 'acme-key', path: '/orders', dry_run: true })
    t.same(again.json, dry.json, 'the dry run spent nothing')
    const real = await check(app, { key: 'acme-key', path: '/orders' })
    t.same(real.json, dry.json, 'the real check answers what the dry run said')
    t.equal((await check(app, { key: 'acme-key', path: '/orders' })).json.allowed, true)
    t.equal((await check(app, { key: 'acme-key', path: '/orders' })).json.allowed, true)
    const refusedDry = await check(app, { key: 'acme-key', path: '/orders', dry_run: true })
    const refused = await check(app, { key: 'acme-key', path: '/orders' })
    t.equal(refused.status, 200, 'a refusal is an answer, not an error')
    t.match(refused.json, { allowed: false, outcome: 'limited', client: 'acme', windows: [{ policy: 'free-1m', max: 3, remaining: 0 }] })
    t.ok(Number(refused.json.retry_after) >= 1)
    t.same(refusedDry.json.allowed, false)
  })

  t.test('cost defaults to the route\'s, and can be given', async (t) => {
    const fresh = await inProcess(t, RULES)
    t.match((await check(fresh, { key: 'beta-key', method: 'POST', path: '/upload/x', dry_run: true })).json, { allowed: true, windows: [{ remaining: 0 }] })
    t.match((await check(fresh, { key: 'beta-key', path: '/orders', cost: 4, dry_run: true })).json, { allowed: false })
  })

  t.test('anonymous by ip; unknown key 401; a limit: false route', async (t) => {
    t.match((await check(app, { ip: '203.0.113.9', path: '/orders' })).json, { allowed: true, client: 'anonymous', plan: 'anonymous' })
    const unknown = await check(app, { key: 'nope', path: '/orders' })
    t.equal(unknown.status, 401)
    t.same((await check(app, { path: '/public/a' })).json, { allowed: true, client: null, plan: null, retry_after: 0, windows: [] })
  })

  t.test('a bad body: 400 with the field named; over 4 KiB: 413', async (t) => {
    for (const [body, field] of [
      [{ key: 'acme-key' }, /path/],
      [{ key: 'acme-key', path: 'orders' }, /path/],
      [{ key: 'acme-key', path: '/orders', cost: 0 }, /cost/],
      [{ key: 'acme-key', path: '/orders', cost: 1.5 }, /cost/],
      [{ key: 'acme-key', path: '/orders', extra: 1 }, /extra|additional/],
      [{ path: '/orders' }, /ip/],
      [{ ip: 'not-an-ip', path: '/orders' }, /ip/],
      [{ key: 'acme-key', path: '/orders', method: 'G E T' }, /method/]
    ] as const) {
      const res = await check(app, body)
      t.equal(res.status, 400, JSON.stringify(body))
      t.match(res.json, { error: 'bad_request', message: field }, JSON.stringify(body))
    }
    const notJson = await fetch(`${app.proxyUrl}/v1/check`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"key":' })
    t.equal(notJson.status, 400)
    t.match(await notJson.json(), { error: 'bad_request' })
    const huge = await fetch(`${app.proxyUrl}/v1/check`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ key: 'acme-key', path: '/' + 'a'.repeat(5000) }) })
    t.equal(huge.status, 413)
    t.match(await huge.json(), { error: 'payload_too_large' })
  })
})

t.test('with an upstream, listen.decision serves the decision API beside the proxy', async (t) => {
  const upstream = await startUpstream(t)
  const app = await inProcess(t, `upstream: ${upstream.url}\nlisten: { decision: 127.0.0.1:0 }\n${RULES}`)
  if (app.decisionUrl === undefined) throw new Error('no decision listener')
  const res = await ask(`${app.decisionUrl}/v1/authorize`, { headers: { ...ACME, 'x-original-method': 'GET', 'x-original-uri': '/orders' } })
  t.equal(res.status, 200)
  t.equal(res.headers.get('x-ratelimit-remaining'), '2')
  const proxied = await ask(`${app.proxyUrl}/orders`, { headers: ACME })
  t.equal(proxied.status, 200, 'the proxy forwards as before')
  t.equal(proxied.headers.get('x-ratelimit-remaining'), '1', 'one budget for both listeners')
  t.equal(upstream.requests.length, 1, 'the decision reached no app')
})

t.test('Redis gone under on_redis_error: deny: 503 limiter_unavailable, never a 200', async (t) => {
  const app = await inProcess(t, `redis: { url: "redis://127.0.0.1:${await deadPort()}", timeout: 100ms }\non_redis_error: deny\n${RULES}`)
  const authorize = await nginx(app, 'GET', '/orders', ACME)
  t.equal(authorize.status, 503)
  t.match(JSON.parse(authorize.text), { error: 'limiter_unavailable' })
  const checked = await check(app, { key: 'acme-key', path: '/orders' })
  t.equal(checked.status, 503)
  t.match(checked.json, { error: 'limiter_unavailable' })
  t.equal((await nginx(app, 'GET', '/public/x')).status, 200, 'a limit: false route needs no store')
})
