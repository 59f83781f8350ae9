import { Writable } from 'node:stream'
import t from 'tap'
import type { Test } from 'tap'
import type { InjectOptions, LightMyRequestResponse } from 'fastify'
import { buildApp } from '../../src/app'
import { parseConfig, type ReloadResult } from '../../src/config'
import { buildRuntime, openStores } from '../../src/limits'
import { createLogger, createMetrics, Health } from '../../src/observe'

// Who may use the admin port's mutating endpoints (POST /-/reload): the route logic,
// through inject. The real socket and process are in cli-reload.test.ts.

const TOKEN = 'adm-9f2c71d04e5b8a36c1'
const RELOADED: ReloadResult = { result: 'unchanged', hash: 'abc' }

interface Admin {
  inject: (opts: InjectOptions) => Promise<LightMyRequestResponse>
  reloads: () => number
  logText: () => string
  /** Adds a route after the guard was set up, like a future admin endpoint would. */
  addRoute: (method: 'PUT' | 'DELETE', url: string) => void
}

async function admin (t: Test, yaml: string): Promise<Admin> {
  const parsed = parseConfig(`plans: { free: [ { max: 5, per: 1s } ] }\n${yaml}`, {}, 'test.yml')
  if (!parsed.ok) throw new Error(parsed.errors.join('\n'))
  let logText = ''
  const sink = new Writable({ write (chunk: Buffer, _encoding, callback) { logText += chunk.toString('utf8'); callback() } })
  const log = createLogger('info', sink)
  const stores = openStores(parsed.config, log)
  const runtime = buildRuntime(parsed.config, stores)
  let reloads = 0
  const app = await buildApp({
    log,
    metrics: createMetrics({ version: 'test' }),
    health: new Health({ components: () => [] }),
    version: 'test',
    currentRuntime: () => runtime,
    draining: () => false,
    reload: async () => { reloads++; return RELOADED }
  })
  t.teardown(async () => {
    await Promise.allSettled([app.proxy.close(), app.admin.close(), stores.close()])
  })
  return {
    inject: async (opts) => await app.admin.inject(opts),
    reloads: () => reloads,
    logText: () => logText,
    addRoute: (method, url) => { app.admin.route({ method, url, handler: async () => ({ done: true }) }) }
  }
}

const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` })

t.test('with admin.token: the right Bearer reloads, a wrong or missing one is 401', async (t) => {
  const a = await admin(t, `listen: { admin: 0.0.0.0:9464 }\nadmin: { token: ${TOKEN} }`)
  const right = await a.inject({ method: 'POST', url: '/-/reload', headers: bearer(TOKEN) })
  t.equal(right.statusCode, 200)
  t.same(right.json(), RELOADED)
  t.equal(a.reloads(), 1)
  const lowerScheme = await a.inject({ method: 'POST', url: '/-/reload', headers: { authorization: `bearer ${TOKEN}` } })
  t.equal(lowerScheme.statusCode, 200, 'the scheme is case-insensitive (RFC 9110 §11.1)')

  const refused = [
    {},
    bearer(TOKEN.slice(0, -1)),
    bearer(TOKEN + 'x'),
    bearer(TOKEN.toUpperCase()),
    bearer(''),
    { authorization: TOKEN },
    { authorization: `Basic ${Buffer.from(`admin:${TOKEN}`).toString('base64')}` },
    { authorization: `Bearer ${TOKEN} extra` },
    { 'x-admin-token': TOKEN }
  ]
  for (const headers of refused) {
    const res = await a.inject({ method: 'POST', url: '/-/reload', headers })
    t.equal(res.statusCode, 401, `401 for ${JSON.stringify(headers).replace(TOKEN, '<token>')}`)
    t.equal(res.headers['www-authenticate'], 'Bearer realm="tollgate admin"')
    t.equal((res.json() as { error: string }).error, 'admin_token_required')
    t.notOk(res.body.includes(TOKEN), 'the token is not in the body')
  }
  t.equal(a.reloads(), 2, 'no refused request reloaded')
  t.notOk(a.logText().includes(TOKEN), 'the token is in no log line')
  t.match(a.logText(), /admin request refused/, 'refusals are logged')
})

t.test('with a token, a loopback bind needs it too', async (t) => {
  const a = await admin(t, `listen: { admin: 127.0.0.1:9464 }\nadmin: { token: ${TOKEN} }`)
  t.equal((await a.inject({ method: 'POST', url: '/-/reload' })).statusCode, 401)
  t.equal((await a.inject({ method: 'POST', url: '/-/reload', headers: bearer(TOKEN) })).statusCode, 200)
})

t.test('without a token: a loopback bind answers, any other bind is 403', async (t) => {
  for (const bind of ['127.0.0.1:9464', '127.8.0.3:1', 'localhost:9464', 'LocalHost:9464', '[::1]:9464', '[::ffff:127.0.0.1]:9464']) {
    const a = await admin(t, `listen: { admin: "${bind}" }`)
    const res = await a.inject({ method: 'POST', url: '/-/reload' })
    t.equal(res.statusCode, 200, `${bind} is loopback`)
  }
  for (const bind of ['0.0.0.0:9464', ':9464', '[::]:9464', '10.1.2.3:9464', '[::ffff:10.0.0.1]:9464', 'localhost.example.com:9464', '128.0.0.1:9464']) {
    const a = await admin(t, `listen: { admin: "${bind}" }`)
    const res = await a.inject({ method: 'POST', url: '/-/reload', headers: bearer(TOKEN) })
    t.equal(res.statusCode, 403, `${bind} is not loopback`)
    const body = res.json() as { error: string, reason: string }
    t.equal(body.error, 'admin_locked')
    t.match(body.reason, /set admin\.token, or bind listen\.admin to 127\.0\.0\.1/)
    t.equal(a.reloads(), 0)
  }
})

t.test('the default listen.admin (0.0.0.0) with no token refuses reloads', async (t) => {
  const a = await admin(t, '')
  t.equal((await a.inject({ method: 'POST', url: '/-/reload' })).statusCode, 403)
})

t.test('on loopback without a token, a browser request (Origin) is refused', async (t) => {
  const a = await admin(t, 'listen: { admin: 127.0.0.1:9464 }')
  const res = await a.inject({ method: 'POST', url: '/-/reload', headers: { origin: 'http://evil.example' } })
  t.equal(res.statusCode, 403)
  t.match((res.json() as { reason: string }).reason, /browser/)
  t.equal(a.reloads(), 0)
})

t.test('GET endpoints stay open whatever the token and bind', async (t) => {
  const a = await admin(t, `listen: { admin: 0.0.0.0:9464 }\nadmin: { token: ${TOKEN} }`)
  for (const url of ['/metrics', '/health/live', '/health/ready', '/health/full']) {
    const res = await a.inject({ method: 'GET', url })
    t.equal(res.statusCode, 200, `GET ${url} needs no token`)
  }
  t.equal((await a.inject({ method: 'GET', url: '/-/reload' })).statusCode, 404, 'no GET reload to slip through')
})

t.test('a mutating route added later is guarded too', async (t) => {
  const a = await admin(t, `listen: { admin: 0.0.0.0:9464 }\nadmin: { token: ${TOKEN} }`)
  a.addRoute('PUT', '/v1/bans/:client')
  a.addRoute('DELETE', '/v1/bans/:client')
  t.equal((await a.inject({ method: 'PUT', url: '/v1/bans/acme' })).statusCode, 401)
  t.equal((await a.inject({ method: 'DELETE', url: '/v1/bans/acme' })).statusCode, 401)
  t.equal((await a.inject({ method: 'PUT', url: '/v1/bans/acme', headers: bearer(TOKEN) })).statusCode, 200)
})

t.test('admin.token: too short, empty or not visible ASCII is an error naming it, never showing it', async (t) => {
  for (const token of ['short-token-15c', '""', '"has a space in the token"', '"' + 'é'.repeat(20) + '"', 'null']) {
    const parsed = parseConfig(`plans: { free: [ { max: 5, per: 1s } ] }\nadmin: { token: ${token} }`, {}, 'test.yml')
    t.equal(parsed.ok, false, `${token} is refused`)
    if (parsed.ok) continue
    const text = parsed.errors.join('\n')
    t.match(text, /^admin\.token: \(value hidden\)/)
    t.notOk(text.includes('short-token') || text.includes('has a space') || text.includes('é'), 'the value is not printed')
  }
  const fromEnv = parseConfig('plans: { free: [ { max: 5, per: 1s } ] }\nadmin: { token: "${TOLLGATE_ADMIN_TOKEN}" }', { TOLLGATE_ADMIN_TOKEN: 'tiny' }, 'test.yml')
  t.equal(fromEnv.ok, false, 'a short token from the environment is refused too')
  const ok = parseConfig('plans: { free: [ { max: 5, per: 1s } ] }\nadmin: { token: "${TOLLGATE_ADMIN_TOKEN}" }', { TOLLGATE_ADMIN_TOKEN: TOKEN }, 'test.yml')
  t.equal(ok.ok && ok.config.admin.token, TOKEN)
})
