import t from 'tap'
import { startTollgate, type Tollgate } from '../helpers/child'
import { runCli } from '../helpers/run-cli'
import { get, postJson, send } from '../helpers/http'
import { startRedis } from '../helpers/redis'

// The operator's API across two real tollgate processes sharing one real Redis: a change
// made through one replica applies on the other within 1 s (measured here), and survives
// a reload and a restart.

const TOKEN = 'ops-token-5b1f9a7c3e'
const AUTH = { authorization: `Bearer ${TOKEN}` }
const config = (redisUrl: string, extra = ''): string => `
listen: { proxy: 127.0.0.1:0, admin: 127.0.0.1:0 }
redis: "${redisUrl}"
shutdown: { drain_delay: 0s, grace: 1s }
admin: { token: [ { name: alice, token: ${TOKEN} } ] }
plans:
  free: [ { max: 5, per: 1m } ]
  pro: [ { max: 100, per: 1m } ]
keys:
  - { name: acme, key: acme-key, plan: free }
  - { name: zeta, key: zeta-key, plan: free }
${extra}`

/** Allowed checks per key, on either replica: what usage must report as spent. */
const spent = new Map<string, number>()
const check = async (g: Tollgate, key: string): Promise<{ status: number, body: Record<string, unknown> }> => {
  const res = await postJson(`${g.proxyUrl}/v1/check`, { key, path: '/' })
  if (res.status === 200 && (res.json() as { allowed: boolean }).allowed) spent.set(key, (spent.get(key) ?? 0) + 1)
  return { status: res.status, body: res.json() as Record<string, unknown> }
}
const admin = async (g: Tollgate, method: 'GET' | 'PUT' | 'DELETE', path: string, body?: unknown): Promise<{ status: number, json: () => unknown }> => {
  const res = body === undefined
    ? await send(method, `${g.adminUrl}${path}`, AUTH)
    : await send(method, `${g.adminUrl}${path}`, { ...AUTH, 'content-type': 'application/json' }, JSON.stringify(body))
  return { status: res.status, json: () => res.json() }
}

/** Milliseconds until `done` holds, polling every 10 ms; rejects after `limitMs`. */
async function until (done: () => Promise<boolean>, limitMs: number): Promise<number> {
  const started = performance.now()
  while (!await done()) {
    if (performance.now() - started > limitMs) throw new Error(`not within ${limitMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  return Math.round(performance.now() - started)
}

t.test('two replicas: bans, overrides, usage and the audit trail are shared through Redis', async (t) => {
  const redis = await startRedis(t)
  const [a, b] = await Promise.all([
    startTollgate(t, { configYaml: config(redis.url) }),
    startTollgate(t, { configYaml: config(redis.url) })
  ])

  t.equal((await check(b, 'acme-key')).status, 200)
  t.equal((await admin(a, 'PUT', '/v1/bans/acme', { for: '1h', reason: 'hammering' })).status, 200)
  const banDelay = await until(async () => (await check(b, 'acme-key')).status === 403, 1000)
  t.comment(`a ban made through A refused on B after ${banDelay} ms`)
  t.match((await check(b, 'acme-key')).body, { error: 'banned', expires: String })
  t.equal((await admin(b, 'DELETE', '/v1/bans/acme')).status, 200, 'lifted through B')
  const liftDelay = await until(async () => (await check(a, 'acme-key')).status === 200, 1000)
  t.comment(`lifted through B, allowed on A after ${liftDelay} ms`)

  // Usage counts what acme spent on both replicas (checks that ran before a change
  // reached a replica spent too), read on either.
  await check(a, 'acme-key')
  const used = spent.get('acme-key') ?? 0
  t.ok(used >= 2 && used <= 5, `acme spent ${used}`)
  t.match((await admin(b, 'GET', '/v1/usage/acme')).json(), { client: 'acme', plan: 'free', windows: [{ policy: 'free-1m', max: 5, used, remaining: 5 - used }] })

  t.equal((await admin(a, 'PUT', '/v1/overrides/zeta', { plan: 'pro', reason: 'trial' })).status, 200)
  const overrideDelay = await until(async () => ((await check(b, 'zeta-key')).body.windows as Array<{ max: number }>)[0]?.max === 100, 1000)
  t.comment(`an override made through A applied on B after ${overrideDelay} ms`)

  const expires = new Date(Date.now() + 1500).toISOString()
  t.equal((await admin(b, 'PUT', '/v1/overrides/acme', { windows: [{ max: 50, per: '1m' }], expires })).status, 200)
  await until(async () => ((await check(a, 'acme-key')).body.windows as Array<{ max: number }>)[0]?.max === 50, 1000)
  const expiredAfter = await until(async () => ((await check(a, 'acme-key')).body.windows as Array<{ max: number }>)[0]?.max === 5, 3000)
  t.ok(Date.now() >= Date.parse(expires), `the override ended at its expiry, not before (${expiredAfter} ms after it applied)`)
  t.same(((await admin(b, 'GET', '/v1/overrides')).json() as { overrides: Array<{ client: string }> }).overrides.map((o) => o.client), ['zeta'], 'the expired one is gone')

  t.equal((await admin(b, 'PUT', '/v1/bans/10.9.0.0%2F16', { for: '1h' })).status, 200)
  t.equal((await admin(a, 'PUT', '/v1/bans/zeta', { for: '1h' })).status, 200)

  // A reload of A: logged and kept as an audit entry with its diff, and it removes nothing.
  await a.writeConfig(config(redis.url, '  - { name: newco, key: newco-key, plan: pro }\n'))
  const line = await a.waitForLog((l) => l.audit === true && l.kind === 'reload', 5000)
  t.match(line, { who: 'watch', what: { trigger: 'watch', changes: { keys: { added: ['newco'] } } }, config_hash: { old: String, new: String } })
  t.equal((await check(a, 'zeta-key')).status, 403, 'the ban outlives the reload')
  t.equal((await check(a, 'newco-key')).status, 200)

  const audit = ((await admin(b, 'GET', '/v1/audit')).json() as { entries: Array<{ kind: string, action: string, who: string }> }).entries
  t.same(audit.map((e) => `${e.kind} ${e.action} ${e.who}`).slice(0, 3), ['reload reload watch', 'ban put alice', 'ban put alice'], 'B lists what A and B did')
  const metrics = (await get(`${a.adminUrl}/metrics`)).body
  t.match(metrics, /tollgate_admin_changes_total\{kind="reload"\} 1/)
  t.match(metrics, /tollgate_ratelimit_decisions_total\{client="zeta",plan="free",decision="banned"\} [1-9]/)

  // The CLI reads A's usage.
  const cli = await runCli(['usage', 'acme', '--admin', a.adminUrl], { env: { TOLLGATE_ADMIN_TOKEN: TOKEN } })
  t.equal(cli.code, 0, cli.stderr)
  t.match(cli.stdout, /^acme {2}plan free\nfree-1m +\[#+\.*\] +\d+% {2}\d+\/5 used, \d+ left, full again in \S+\n$/)
  const refused = await runCli(['usage', 'acme', '--admin', a.adminUrl])
  t.equal(refused.code, 1)
  t.match(refused.stderr, /401 .*TOLLGATE_ADMIN_TOKEN/)

  // B restarts: what it enforced comes back from Redis.
  b.signal('SIGTERM')
  await b.exited
  const b2 = await startTollgate(t, { configYaml: config(redis.url) })
  await until(async () => (await check(b2, 'zeta-key')).status === 403, 1000)
  const full = (await get(`${b2.adminUrl}/health/full`)).json() as { checks: Record<string, Array<{ observedValue: unknown }>> }
  t.same(full.checks['controls:count']?.[0]?.observedValue, { overrides: 1, bans: 2 }, '/health/full counts them')
})
