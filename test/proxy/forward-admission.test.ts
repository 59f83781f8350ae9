import t from 'tap'
import type { Tollgate } from '../helpers/child'
import { get, send } from '../helpers/http'
import type { Upstream } from '../helpers/upstream'
import { nodeRequest } from './forward-client'
import { KEY, startForwarding } from './forward-kit'

// Forwarding, what reaches the app: admin paths on the proxy port do, refused and
// undecodable requests never do (forward-kit.ts starts the processes).

let up: Upstream
let tg: Tollgate
t.before(async () => { ({ up, tg } = await startForwarding(t)) })

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
