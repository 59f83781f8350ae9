import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { parse } from 'yaml'
import { inProcess } from '../helpers/app'
import { rawExchange, type RawResponse } from '../helpers/raw'

/*
 * Traefik and Envoy cannot be installed here, so these tests send tollgate, on a raw
 * socket, exactly the request each sends (from their documentation, and from the
 * shipped examples' own settings), and check the answer against what each does with it.
 */

const EXAMPLES = join(__dirname, '..', '..', 'examples')

const CONFIG = `
trust_proxy: [ 127.0.0.1 ]
plans:
  anonymous: [ { max: 1, per: 1m } ]
  free: [ { max: 4, per: 1m } ]
keys:
  - { name: acme, key: acme-key, plan: free }
routes:
  - { match: "POST /upload/*", cost: 3 }
`

async function send (port: number, requestLine: string, headers: ReadonlyArray<readonly [string, string]>, body = ''): Promise<RawResponse> {
  const lines = [requestLine, ...headers.map(([name, value]) => `${name}: ${value}`)]
  return await rawExchange(port, `${lines.join('\r\n')}\r\n\r\n${body}`)
}

t.test('Traefik forwardAuth: a GET with the client\'s headers and X-Forwarded-*', async (t) => {
  const dynamic = parse(readFileSync(join(EXAMPLES, 'traefik', 'dynamic.yml'), 'utf8')) as {
    http: { middlewares: { tollgate: { forwardAuth: { address: string, authResponseHeaders: string[] } } } }
  }
  const { address, authResponseHeaders } = dynamic.http.middlewares.tollgate.forwardAuth
  const app = await inProcess(t, CONFIG)
  const path = new URL(address).pathname
  // Traefik: GET to the address, the client's own headers, then its X-Forwarded-* set.
  const traefik = async (method: string, uri: string, client: Array<[string, string]>): Promise<RawResponse> => await send(app.proxyPort, `GET ${path} HTTP/1.1`, [
    ['Host', 'tollgate:8080'], ...client,
    ['X-Forwarded-Method', method], ['X-Forwarded-Proto', 'https'], ['X-Forwarded-Host', 'app.example'],
    ['X-Forwarded-Uri', uri], ['X-Forwarded-For', '203.0.113.7'], ['Connection', 'close']
  ])

  const allowed = await traefik('POST', '/upload/a?x=1', [['X-Api-Key', 'acme-key'], ['User-Agent', 'curl/8'], ['Content-Type', 'text/plain']])
  t.equal(allowed.status, 200, '2xx: Traefik forwards the request')
  for (const name of authResponseHeaders) t.ok(allowed.headers[name.toLowerCase()] !== undefined, `${name}, which authResponseHeaders copies to the app, is there`)
  t.equal(allowed.headers['x-tollgate-client'], 'acme')
  t.equal(allowed.headers['x-ratelimit-remaining'], '1', 'the POST /upload/* cost (3 of 4) was spent: the route is the original\'s')
  const refused = await traefik('GET', '/orders', [['X-Api-Key', 'acme-key']])
  t.equal(refused.status, 200, '1 left: one more GET fits')
  const over = await traefik('GET', '/orders', [['X-Api-Key', 'acme-key']])
  t.equal(over.status, 429, 'refused: Traefik returns this answer to the client as it is')
  t.match(JSON.parse(over.body.toString()), { error: 'rate_limited' })
  t.ok(Number(over.headers['retry-after']) >= 1)
  t.match(over.headers.ratelimit, /^"free-1m";r=0;t=\d+$/)

  const anon = await traefik('GET', '/orders', [])
  t.equal(anon.status, 200)
  t.equal((await traefik('GET', '/orders', [])).status, 429, 'the anonymous budget is X-Forwarded-For\'s address (trusted)')
  const other = await send(app.proxyPort, `GET ${path} HTTP/1.1`, [['Host', 'x'], ['X-Forwarded-Method', 'GET'], ['X-Forwarded-Uri', '/orders'], ['X-Forwarded-For', '198.51.100.1'], ['Connection', 'close']])
  t.equal(other.status, 200, 'another client address has its own budget')

  const unknown = await traefik('GET', '/orders', [['X-Api-Key', 'nope']])
  t.equal(unknown.status, 401)
})

t.test('Envoy ext_authz (HTTP service): the original method, the path behind path_prefix, only the allowed headers', async (t) => {
  interface Patterns { patterns: Array<{ exact: string }> }
  const envoy = parse(readFileSync(join(EXAMPLES, 'envoy', 'ext-authz.yaml'), 'utf8')) as {
    static_resources: { listeners: Array<{ filter_chains: Array<{ filters: Array<{ typed_config: { http_filters: Array<{ name: string, typed_config: Record<string, unknown> }> } }> }> }> }
  }
  const filters = envoy.static_resources.listeners[0]?.filter_chains[0]?.filters[0]?.typed_config.http_filters ?? []
  const extAuthz = filters.find((f) => f.name === 'envoy.filters.http.ext_authz')?.typed_config as {
    http_service: {
      path_prefix: string
      authorization_request: { allowed_headers: Patterns }
      authorization_response: { allowed_upstream_headers: Patterns, allowed_client_headers: Patterns, allowed_client_headers_on_success: Patterns }
    }
  } | undefined
  if (extAuthz === undefined) throw new Error('no ext_authz filter in the example')
  const { path_prefix: prefix, authorization_request: request, authorization_response: response } = extAuthz.http_service
  const allowed = new Set(['host', 'authorization', 'content-length', ...request.allowed_headers.patterns.map((p) => p.exact.toLowerCase())])
  const app = await inProcess(t, CONFIG)

  /** What Envoy sends for a client request: only the allowed headers survive. */
  const envoyAsks = async (method: string, path: string, client: Array<[string, string]>, body = ''): Promise<RawResponse> => {
    const kept = client.filter(([name]) => allowed.has(name.toLowerCase()))
    return await send(app.proxyPort, `${method} ${prefix}${path} HTTP/1.1`, [
      ['host', 'app.example'], ...kept, ['content-length', String(Buffer.byteLength(body))], ['connection', 'close']
    ], body)
  }
  const client: Array<[string, string]> = [['x-api-key', 'acme-key'], ['x-forwarded-for', '203.0.113.7'], ['cookie', 'session=1'], ['x-original-uri', '/public']]

  const upload = await envoyAsks('POST', '/upload/a?x=1', client, 'a body, with with_request_body')
  t.equal(upload.status, 200, 'only a 200 lets Envoy forward')
  for (const { exact } of [...response.allowed_upstream_headers.patterns, ...response.allowed_client_headers_on_success.patterns]) {
    t.ok(upload.headers[exact] !== undefined, `${exact}, which Envoy passes on after a 200, is there`)
  }
  t.equal(upload.headers['x-ratelimit-remaining'], '1', 'the original method and path chose the POST /upload/* rule (cost 3)')

  const bearer = await envoyAsks('GET', '/orders', [['authorization', 'Bearer acme-key']])
  t.equal(bearer.status, 200, 'a Bearer key arrives whatever allowed_headers says')
  const over = await envoyAsks('GET', '/', client)
  t.equal(over.status, 429, 'refused with a 4xx, which Envoy passes to the client; never a 5xx')
  t.match(JSON.parse(over.body.toString()), { error: 'rate_limited' })
  for (const { exact } of response.allowed_client_headers.patterns) {
    t.ok(over.headers[exact] !== undefined, `${exact}, which Envoy passes to the client on a refusal, is there`)
  }

  const root = await envoyAsks('GET', '/', [['x-forwarded-for', '198.51.100.2']])
  t.equal(root.status, 200, 'path "/" behind the prefix, anonymous by X-Forwarded-For')
  const noKeyHeader = await send(app.proxyPort, `GET ${prefix}/orders HTTP/1.1`, [['host', 'x'], ['x-forwarded-for', '198.51.100.2'], ['connection', 'close']])
  t.equal(noKeyHeader.status, 429, 'the same client address shares one anonymous budget')
})
