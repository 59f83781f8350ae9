import { Writable } from 'node:stream'
import t from 'tap'
import type { Test } from 'tap'
import type { InjectOptions, LightMyRequestResponse } from 'fastify'
import { buildApp } from '../../src/app'
import { parseConfig } from '../../src/config'
import { buildRuntime, openStores } from '../../src/limits'
import { createLogger, createMetrics, Health } from '../../src/observe'
import { startRedis } from '../helpers/redis'

// The operator's API (usage, overrides, bans, audit) through inject, on the embedded store
// unless a test gives a Redis: validation, the unhappy paths, and what the decision API
// then answers. Two real processes sharing a Redis are in replicas.test.ts.

const TOKEN = 'ops-token-5b1f9a7c3e'
const BOT = 'bot-token-0d2e4f6a8c'
const BASE = `
listen: { admin: 0.0.0.0:9464 }
admin: { token: [ { name: alice, token: ${TOKEN} }, { name: robot, token: ${BOT} } ] }
plans:
  free: [ { max: 5, per: 1m } ]
  pro: [ { max: 100, per: 1m } ]
  anonymous: [ { max: 3, per: 1m } ]
keys:
  - { name: acme, key: acme-key, plan: free }
  - { name: zeta, key: zeta-key, plan: free }
routes:
  - { match: "POST /upload", cost: 2, plans: { free: [ { max: 4, per: 1h } ] } }
`

interface Api {
  admin: (opts: InjectOptions) => Promise<LightMyRequestResponse>
  check: (body: object) => Promise<LightMyRequestResponse>
  metrics: () => Promise<string>
  logs: () => Array<Record<string, unknown>>
}

async function api (t: Test, extra = ''): Promise<Api> {
  const parsed = parseConfig(BASE + extra, {}, 'test.yml')
  if (!parsed.ok) throw new Error(parsed.errors.join('\n'))
  let logText = ''
  const sink = new Writable({ write (chunk: Buffer, _encoding, callback) { logText += chunk.toString('utf8'); callback() } })
  const log = createLogger('info', sink)
  const stores = openStores(parsed.config, log)
  const { redis } = stores
  if (redis !== undefined && redis.status !== 'ready') await new Promise((resolve) => redis.once('ready', resolve))
  const runtime = buildRuntime(parsed.config, stores)
  const metrics = createMetrics({ version: 'test' })
  const app = await buildApp({
    log,
    metrics,
    health: new Health({ components: () => [] }),
    version: 'test',
    currentRuntime: () => runtime,
    draining: () => false,
    reload: async () => ({ result: 'unchanged', hash: 'h1' }),
    configHash: () => 'h1'
  })
  t.teardown(async () => { await Promise.allSettled([app.proxy.close(), app.admin.close(), stores.close()]) })
  return {
    admin: async (opts) => await app.admin.inject({ ...opts, headers: { authorization: `Bearer ${TOKEN}`, ...opts.headers } }),
    check: async (body) => await app.proxy.inject({ method: 'POST', url: '/v1/check', payload: body }),
    metrics: async () => (await app.admin.inject({ method: 'GET', url: '/metrics' })).body,
    logs: () => logText.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>)
  }
}

t.test('a ban refuses with 403 banned and its expiry, counted as banned, and DELETE lifts it', async (t) => {
  const a = await api(t)
  const put = await a.admin({ method: 'PUT', url: '/v1/bans/acme', payload: { for: '1h', reason: 'ticket 42' } })
  t.equal(put.statusCode, 200, put.body)
  const { ban } = put.json() as { ban: { expires: string, by: string, kind: string } }
  t.equal(ban.by, 'alice', 'who: the token\'s name')
  t.equal(ban.kind, 'client')
  t.ok(Math.abs(Date.parse(ban.expires) - Date.now() - 3_600_000) < 5000, 'expires in 1h')

  const refused = await a.check({ key: 'acme-key', path: '/' })
  t.equal(refused.statusCode, 403)
  const body = refused.json() as Record<string, unknown>
  t.equal(body.error, 'banned')
  t.equal(body.expires, ban.expires)
  t.notOk(JSON.stringify(body).includes('ticket'), 'the operator\'s reason is not told to the client')
  t.equal((await a.check({ key: 'zeta-key', path: '/' })).statusCode, 200, 'another client is not banned')
  t.match(await a.metrics(), /tollgate_ratelimit_decisions_total\{client="acme",plan="free",decision="banned"\} 1/)

  const usage = await a.admin({ method: 'GET', url: '/v1/usage/acme' })
  t.equal((usage.json() as { windows: Array<{ used: number }> }).windows[0]?.used, 0, 'a banned request spends nothing')

  const list = await a.admin({ method: 'GET', url: '/v1/bans' })
  t.same((list.json() as { bans: Array<{ target: string }> }).bans.map((b) => b.target), ['acme'])
  t.equal((await a.admin({ method: 'DELETE', url: '/v1/bans/acme' })).statusCode, 200)
  t.equal((await a.check({ key: 'acme-key', path: '/' })).statusCode, 200, 'lifted')
  t.equal((await a.admin({ method: 'DELETE', url: '/v1/bans/acme' })).statusCode, 404, 'nothing left to lift')

  const audit = (await a.admin({ method: 'GET', url: '/v1/audit', headers: { authorization: `Bearer ${BOT}` } })).json() as { entries: Array<Record<string, unknown>> }
  t.same(audit.entries.map((e) => [e.kind, e.action, e.who, e.target]), [['ban', 'delete', 'alice', 'acme'], ['ban', 'put', 'alice', 'acme']], 'newest first')
  t.same(audit.entries[1]?.config_hash, { old: 'h1', new: 'h1' })
  const lines = a.logs().filter((l) => l.audit === true)
  t.equal(lines.length, 2, 'one audit log line per change')
  t.match(lines[0], { kind: 'ban', action: 'put', who: 'alice', target: 'acme', what: { reason: 'ticket 42' } })
  t.match(await a.metrics(), /tollgate_admin_changes_total\{kind="ban"\} 2/)
  t.notOk(JSON.stringify(a.logs()).includes(TOKEN), 'no token in any log line')
})

t.test('anonymous callers are banned by IP or CIDR; bad targets are 400, unknown names 404', async (t) => {
  const a = await api(t)
  t.equal((await a.admin({ method: 'PUT', url: '/v1/bans/203.0.113.0/24', payload: { for: '10m' } })).statusCode, 200)
  t.equal((await a.admin({ method: 'PUT', url: '/v1/bans/2001:DB8::%2F32', payload: { for: '10m' } })).statusCode, 200, 'the / may be encoded')
  t.equal((await a.check({ ip: '203.0.113.9', path: '/' })).statusCode, 403)
  t.equal((await a.check({ ip: '2001:db8:1::5', path: '/' })).statusCode, 403)
  t.equal((await a.check({ ip: '198.51.100.1', path: '/' })).statusCode, 200)
  const bans = (await a.admin({ method: 'GET', url: '/v1/bans' })).json() as { bans: Array<{ target: string, kind: string }> }
  t.same(bans.bans.map((b) => b.target).sort(), ['2001:db8::/32', '203.0.113.0/24'])
  t.equal((await a.admin({ method: 'DELETE', url: '/v1/bans/203.0.113.0%2F24' })).statusCode, 200)
  t.equal((await a.check({ ip: '203.0.113.9', path: '/' })).statusCode, 200)

  for (const target of ['10.0.0.0/33', '10.0.0.300', '10.0.0.0/x', '2001:db8::/129', '1.2.3']) {
    const res = await a.admin({ method: 'PUT', url: `/v1/bans/${target}`, payload: { for: '1h' } })
    t.equal(res.statusCode, 400, `${target} is refused`)
    t.equal((res.json() as { error: string }).error, 'bad_request')
  }
  const unknown = await a.admin({ method: 'PUT', url: '/v1/bans/nobody', payload: { for: '1h' } })
  t.equal(unknown.statusCode, 404)
  t.equal((unknown.json() as { error: string }).error, 'not_found')
})

t.test('bodies are validated strictly, every error named', async (t) => {
  const a = await api(t)
  const cases: Array<[string, string, unknown, RegExp]> = [
    ['/v1/bans/acme', 'PUT', { for: '400d' }, /body\.for: "400d" must be at most 365d/],
    ['/v1/bans/acme', 'PUT', { for: '0s' }, /body\.for: "0s" must be at least 1s/],
    ['/v1/bans/acme', 'PUT', { for: 'soon' }, /is not a duration/],
    ['/v1/bans/acme', 'PUT', {}, /body\.for: is required/],
    ['/v1/bans/acme', 'PUT', { for: '1h', until: 'x' }, /body\.until: is not a known key/],
    ['/v1/overrides/acme', 'PUT', {}, /exactly one of `plan` or `windows`/],
    ['/v1/overrides/acme', 'PUT', { plan: 'pro', windows: [{ max: 1, per: '1s' }] }, /exactly one of/],
    ['/v1/overrides/acme', 'PUT', { plan: 'gold' }, /"gold" is not a plan of the config/],
    ['/v1/overrides/acme', 'PUT', { windows: [{ max: 2000000000, per: '1s' }] }, /body\.windows\[0\]\.max: 2000000000 must be at most 1000000000/],
    ['/v1/overrides/acme', 'PUT', { windows: [{ max: 1, per: '2y' }] }, /body\.windows\[0\]\.per/],
    ['/v1/overrides/acme', 'PUT', { plan: 'pro', expires: '2020-01-01T00:00:00Z' }, /is in the past/],
    ['/v1/overrides/acme', 'PUT', { plan: 'pro', expires: '2099-01-01T00:00:00Z' }, /more than 366 days ahead/],
    ['/v1/overrides/acme', 'PUT', { plan: 'pro', expires: 'friday' }, /ISO 8601/]
  ]
  for (const [url, method, payload, message] of cases) {
    const res = await a.admin({ method: method as 'PUT', url, payload: payload as object })
    t.equal(res.statusCode, 400, `${JSON.stringify(payload)}: 400`)
    const body = res.json() as { error: string, message: string }
    t.equal(body.error, 'bad_request')
    t.match(body.message, message)
  }
  const badJson = await a.admin({ method: 'PUT', url: '/v1/bans/acme', payload: '{"for": ', headers: { 'content-type': 'application/json' } })
  t.equal(badJson.statusCode, 400)
  t.equal((badJson.json() as { error: string }).error, 'bad_request')
  t.equal((await a.admin({ method: 'PUT', url: '/v1/overrides/nobody', payload: { plan: 'pro' } })).statusCode, 404)
  t.equal((await a.admin({ method: 'GET', url: '/v1/usage/nobody' })).statusCode, 404)
  t.equal((await a.admin({ method: 'GET', url: '/v1/usage?top=0' })).statusCode, 400)
  t.equal((await a.admin({ method: 'GET', url: '/v1/usage?plan=gold' })).statusCode, 400)
  t.equal((await a.admin({ method: 'GET', url: '/v1/audit?limit=5000' })).statusCode, 400)
  t.equal((await a.admin({ method: 'GET', url: '/v1/audit' })).json().entries.length, 0, 'nothing refused was recorded')
})

t.test('every endpoint needs a token when one is set, reads included', async (t) => {
  const a = await api(t)
  for (const [method, url] of [['GET', '/v1/usage/acme'], ['GET', '/v1/usage'], ['GET', '/v1/overrides'], ['GET', '/v1/bans'], ['GET', '/v1/audit'],
    ['PUT', '/v1/overrides/acme'], ['DELETE', '/v1/overrides/acme'], ['PUT', '/v1/bans/acme'], ['DELETE', '/v1/bans/10.0.0.0/8']] as const) {
    const res = await a.admin({ method, url, headers: { authorization: 'Bearer wrong-token-000000' }, ...(method === 'PUT' ? { payload: { for: '1h' } } : {}) })
    t.equal(res.statusCode, 401, `${method} ${url}`)
    t.equal((res.json() as { error: string }).error, 'admin_token_required')
  }
})

t.test('an override raises (or lowers) the limits at once; usage is exact and spends nothing', async (t) => {
  const a = await api(t)
  for (let i = 0; i < 3; i++) t.equal((await a.check({ key: 'acme-key', path: '/' })).json().allowed, true)
  await a.check({ key: 'acme-key', method: 'POST', path: '/upload' })
  const usage = (await a.admin({ method: 'GET', url: '/v1/usage/acme' })).json() as { plan: string, windows: Array<Record<string, unknown>> }
  t.equal(usage.plan, 'free')
  t.match(usage.windows, [
    { policy: 'free-1m', max: 5, used: 5, remaining: 0 },
    { policy: 'free POST /upload-1h', max: 4, used: 2, remaining: 2 }
  ])
  const again = (await a.admin({ method: 'GET', url: '/v1/usage/acme' })).json() as { windows: Array<{ used: number }> }
  t.equal(again.windows[0]?.used, 5, 'reading usage spent nothing')
  t.equal((await a.check({ key: 'acme-key', path: '/' })).json().allowed, false, 'free is spent')

  const put = await a.admin({ method: 'PUT', url: '/v1/overrides/acme', payload: { windows: [{ max: 10, per: '1m' }], reason: 'launch week' } })
  t.equal(put.statusCode, 200, put.body)
  const check = (await a.check({ key: 'acme-key', path: '/' })).json() as { allowed: boolean, windows: Array<{ policy: string, max: number, remaining: number }> }
  t.equal(check.allowed, true, 'the override applies at once')
  t.match(check.windows, [{ policy: 'override-1m', max: 10, remaining: 4 }], 'what was spent still counts')
  t.match((await a.admin({ method: 'GET', url: '/v1/usage/acme' })).json(), { override: {}, windows: [{ policy: 'override-1m', used: 6 }] })
  t.equal((await a.check({ key: 'zeta-key', path: '/' })).json().windows[0].max, 5, 'only acme')

  t.equal((await a.admin({ method: 'PUT', url: '/v1/overrides/zeta', payload: { plan: 'pro' } })).statusCode, 200)
  t.match((await a.check({ key: 'zeta-key', path: '/' })).json(), { windows: [{ policy: 'pro-1m', max: 100 }] })
  const list = (await a.admin({ method: 'GET', url: '/v1/overrides' })).json() as { overrides: Array<{ client: string }> }
  t.same(list.overrides.map((o) => o.client).sort(), ['acme', 'zeta'])

  const top = (await a.admin({ method: 'GET', url: '/v1/usage?plan=free&top=1' })).json() as { clients: Array<{ client: string, fullness: number }> }
  t.same(top.clients.map((c) => c.client), ['acme'], 'the fullest recent spender of plan free')

  t.equal((await a.admin({ method: 'DELETE', url: '/v1/overrides/acme' })).statusCode, 200)
  t.equal((await a.check({ key: 'acme-key', path: '/' })).json().allowed, false, 'back to free, still spent')
  t.equal((await a.admin({ method: 'DELETE', url: '/v1/overrides/acme' })).statusCode, 404)
})

t.test('an override expires by itself, on time', async (t) => {
  const a = await api(t)
  const expires = new Date(Date.now() + 1500).toISOString()
  t.equal((await a.admin({ method: 'PUT', url: '/v1/overrides/acme', payload: { plan: 'pro', expires } })).statusCode, 200)
  t.equal((await a.check({ key: 'acme-key', path: '/' })).json().windows[0].max, 100)
  await new Promise((resolve) => setTimeout(resolve, Date.parse(expires) - Date.now() + 50))
  t.equal((await a.check({ key: 'acme-key', path: '/' })).json().windows[0].max, 5, 'back to the plan after expires')
  t.same((await a.admin({ method: 'GET', url: '/v1/overrides' })).json(), { overrides: [] }, 'gone from the list')
})

t.test('Redis gone: the operator API answers a clear 503 and changes nothing', async (t) => {
  const redis = await startRedis(t)
  const a = await api(t, `redis: { url: "${redis.url}", timeout: 250ms }\n`)
  t.equal((await a.admin({ method: 'PUT', url: '/v1/bans/acme', payload: { for: '1h' } })).statusCode, 200, 'works with redis up')
  await redis.kill()
  for (const [method, url] of [['PUT', '/v1/bans/zeta'], ['GET', '/v1/bans'], ['DELETE', '/v1/overrides/acme'], ['GET', '/v1/audit'], ['GET', '/v1/usage']] as const) {
    const res = await a.admin({ method, url, ...(method === 'PUT' ? { payload: { for: '1h' } } : {}) })
    t.equal(res.statusCode, 503, `${method} ${url}`)
    t.equal((res.json() as { error: string }).error, 'admin_store_unavailable')
  }
  const usage = await a.admin({ method: 'GET', url: '/v1/usage/acme' })
  t.equal(usage.statusCode, 503)
  t.equal((usage.json() as { error: string }).error, 'limiter_unavailable')
  t.equal((await a.check({ key: 'acme-key', path: '/' })).statusCode, 403, 'a ban already known keeps refusing while Redis is away')
})
