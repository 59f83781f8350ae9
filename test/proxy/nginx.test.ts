import { readFileSync } from 'node:fs'
import { connect, createServer, type Server, type Socket } from 'node:net'
import { join } from 'node:path'
import t from 'tap'
import { inProcess } from '../helpers/app'
import { nginxMissing, startNginx } from '../helpers/nginx'
import { freePort } from '../helpers/ports'
import { startUpstream } from '../helpers/upstream'

/*
 * nginx `auth_request` in front of a real app, asking a real tollgate: the shipped
 * examples/nginx/tollgate-auth-request.conf, with only its three ports replaced.
 * Between nginx and tollgate sits a byte tap, so the test sees what nginx sends.
 */

const EXAMPLE = readFileSync(join(__dirname, '..', '..', 'examples', 'nginx', 'tollgate-auth-request.conf'), 'utf8')

const CONFIG = `
decision: { deny_status: 403 }
trust_proxy: [ 127.0.0.1 ]
plans:
  anonymous: [ { max: 2, per: 1m } ]
  free: [ { max: 3, per: 1m } ]
keys:
  - { name: acme, key: acme-key, plan: free }
  - { name: beta, key: beta-key, plan: free }
routes:
  - { match: "GET /expensive", plans: { free: [ { max: 1, per: 1m } ] } }
  - { match: "POST /upload/*", cost: 2 }
`

/** A TCP relay that keeps every byte the client side sent. */
async function tap (target: number): Promise<{ port: number, bytes: () => string, close: () => Promise<void> }> {
  const chunks: Buffer[] = []
  const sockets = new Set<Socket>()
  const server: Server = createServer((client) => {
    const upstream = connect(target, '127.0.0.1')
    sockets.add(client).add(upstream)
    client.on('data', (chunk: Buffer) => { chunks.push(chunk) })
    client.pipe(upstream).pipe(client)
    const end = (): void => { client.destroy(); upstream.destroy() }
    client.on('error', end).on('close', end)
    upstream.on('error', end).on('close', end)
  })
  const port = await freePort()
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
  return {
    port,
    bytes: () => Buffer.concat(chunks).toString('latin1'),
    close: async () => {
      for (const s of sockets) s.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  }
}

t.test('nginx auth_request with the shipped example', { skip: nginxMissing() }, async (t) => {
  const app = await startUpstream(t)
  const tollgate = await inProcess(t, CONFIG)
  const relay = await tap(tollgate.proxyPort)
  t.teardown(relay.close)
  const port = await freePort()
  const block = EXAMPLE
    .replace('server 127.0.0.1:8080;', `server 127.0.0.1:${relay.port};`)
    .replace('server 127.0.0.1:3000;', `server 127.0.0.1:${app.port};`)
    .replace('listen 80;', `listen 127.0.0.1:${port};`)
  t.not(block, EXAMPLE, 'the example has the ports the test replaces')
  await startNginx(t, block, port)
  const base = `http://127.0.0.1:${port}`
  const ACME = { 'x-api-key': 'acme-key' }

  t.test('a key\'s limit holds through nginx, and the client sees the headers', async (t) => {
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${base}/orders/${i}`, { headers: ACME })
      t.equal(res.status, 200, `request ${i + 1} of 3`)
      t.match(await res.json(), { url: `/orders/${i}` }, 'answered by the app')
      t.match(res.headers.get('ratelimit'), new RegExp(`^"free-1m";r=${2 - i};t=\\d+$`))
      t.match(res.headers.get('ratelimit-policy'), /"free-1m";q=3;w=60/)
    }
    const refused = await fetch(`${base}/orders/4`, { headers: ACME })
    t.equal(refused.status, 429, 'tollgate\'s 403 became a 429')
    t.match(await refused.json(), { error: 'rate_limited' })
    t.ok(Number(refused.headers.get('retry-after')) >= 1, 'Retry-After')
    t.match(refused.headers.get('ratelimit'), /^"free-1m";r=0;t=\d+$/)
    t.equal(app.requests.filter((r) => r.url.startsWith('/orders/')).length, 3, 'the refused request never reached the app')
    const forwarded = app.requests.find((r) => r.url === '/orders/0')
    t.equal(forwarded?.headers['x-tollgate-client'], 'acme', 'the app learns the client by name')
    t.equal(forwarded?.headers['x-api-key'], undefined, 'and never sees the key')
  })

  t.test('an unknown key gets 401', async (t) => {
    const res = await fetch(`${base}/orders`, { headers: { 'x-api-key': 'nope' } })
    t.equal(res.status, 401)
  })

  t.test('route rules apply to the original URI, not to /v1/authorize', async (t) => {
    const beta = { 'x-api-key': 'beta-key' }
    t.equal((await fetch(`${base}/expensive`, { headers: beta })).status, 200)
    t.equal((await fetch(`${base}/expensive`, { headers: beta })).status, 429, 'the route\'s 1/min window')
    t.equal((await fetch(`${base}/other`, { headers: beta })).status, 200, 'the plan still has room')
  })

  t.test('the cost of the original route, and a POST body never sent to tollgate', async (t) => {
    const marker = 'BODY-MARKER-'.repeat(1000)
    const fresh = { 'x-api-key': 'acme-key' }
    const before = relay.bytes().length
    const res = await fetch(`${base}/upload/a`, { method: 'POST', headers: { ...fresh, 'content-type': 'text/plain' }, body: marker })
    t.equal(res.status, 429, 'acme is spent, whatever the route costs')
    const beta = await fetch(`${base}/upload/b`, { method: 'POST', headers: { 'x-api-key': 'beta-key', 'content-type': 'text/plain' }, body: marker })
    t.equal(beta.status, 429, 'beta has 1 of 3 left after the /expensive tests, and an upload costs 2')
    const sent = relay.bytes().slice(before)
    t.match(sent, /X-Original-URI: \/upload\/a/i, 'tollgate was asked about the upload')
    t.notMatch(sent, /BODY-MARKER/, 'but never saw its body')
    t.match(sent, /X-Original-Method: POST/i)
  })

  t.test('anonymous callers are limited by the X-Forwarded-For nginx sets', async (t) => {
    const statuses = []
    for (let i = 0; i < 3; i++) statuses.push((await fetch(`${base}/anon`)).status)
    t.same(statuses, [200, 200, 429])
  })

  t.test('with tollgate unreachable, nginx answers 500 and lets nothing through', async (t) => {
    const reached = app.requests.length
    await relay.close()
    const res = await fetch(`${base}/orders`, { headers: { 'x-api-key': 'beta-key' } })
    t.equal(res.status, 500)
    t.equal(app.requests.length, reached, 'the app saw nothing')
  })
})
