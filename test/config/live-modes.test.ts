import { createHash } from 'node:crypto'
import t from 'tap'
import { textHash } from '../../src/config/load'
import { startTollgate, type Tollgate } from '../helpers/child'
import { type LogLine } from '../helpers/child-output'
import { get } from '../helpers/http'
import { startRedis } from '../helpers/redis'
import { LISTEN } from '../helpers/stack'
import { startUpstream } from '../helpers/upstream'

// The modes that decide what a refusal or an outage means, changed in the running
// process: `shadow`, and `on_redis_error` while Redis is down.

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex')
const KEY = 'acme-modes-key-d41c'

async function reloadTo (tollgate: Tollgate, text: string): Promise<LogLine> {
  const from = tollgate.logs().length
  const logged = tollgate.waitForLog((l) => l.msg === 'config reloaded' && l.hash === textHash(text) && tollgate.logs().indexOf(l) >= from)
  await tollgate.writeConfig(text)
  return await logged
}

async function statuses (tollgate: Tollgate, n: number): Promise<number[]> {
  const out: number[] = []
  for (let i = 0; i < n; i++) out.push((await get(`${tollgate.proxyUrl}/m`, { 'x-api-key': KEY })).status)
  return out
}

t.test('shadow on: what would be refused is forwarded; off again: refused', async (t) => {
  const upstream = await startUpstream(t)
  const base = `${LISTEN}
upstream: ${upstream.url}
plans: { free: [ { max: 1, per: 1h } ] }
keys: [ { name: acme, sha256: "${sha256(KEY)}", plan: free } ]
`
  const tollgate = await startTollgate(t, { configYaml: base })
  t.strictSame(await statuses(tollgate, 2), [200, 429])
  t.match((await reloadTo(tollgate, `${base}shadow: true\n`)).changes, { settings: ['shadow'] })
  t.strictSame(await statuses(tollgate, 2), [200, 200], 'shadow: counted, never refused')
  await tollgate.waitForLog((l) => l.msg === 'request' && l.decision === 'would_limit')
  await reloadTo(tollgate, `${base}shadow: false\n`)
  t.strictSame(await statuses(tollgate, 1), [429], 'enforced again')
})

t.test('on_redis_error while Redis is down: allow → deny → local, each from the next request, none waiting for Redis', async (t) => {
  const [redis, upstream] = await Promise.all([startRedis(t), startUpstream(t)])
  const base = `${LISTEN}
upstream: ${upstream.url}
redis: ${redis.url}
plans: { free: [ { max: 2, per: 1h } ] }
keys: [ { name: acme, sha256: "${sha256(KEY)}", plan: free } ]
`
  const tollgate = await startTollgate(t, { configYaml: base })
  t.strictSame(await statuses(tollgate, 1), [200])
  await redis.kill()

  t.strictSame(await statuses(tollgate, 3), [200, 200, 200], 'allow: forwarded without a decision')
  await reloadTo(tollgate, `${base}on_redis_error: deny\n`)
  const denied = await get(`${tollgate.proxyUrl}/m`, { 'x-api-key': KEY })
  t.equal(denied.status, 503)
  t.match(denied.json(), { error: 'limiter_unavailable' })
  // The switch an operator makes during an outage: it must not wait for the dead Redis.
  const started = Date.now()
  const line = await reloadTo(tollgate, `${base}on_redis_error: local\n`)
  t.ok(Date.now() - started < 2000, `applied in ${Date.now() - started} ms, without Redis`)
  t.match(line.changes, { settings: ['on_redis_error'] })
  t.strictSame(await statuses(tollgate, 3), [200, 200, 429], 'local: a per-replica limiter with the same plan')

  await redis.restart()
  await reloadTo(tollgate, `${base}on_redis_error: allow\n`)
  // The running client reconnects by itself; the count is Redis' again (empty after the restart).
  let back: number[] = []
  for (let i = 0; i < 30 && back[0] !== 200; i++) {
    back = await statuses(tollgate, 1)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  t.strictSame(back, [200])
  t.notOk(tollgate.logs().some((l) => l.msg === 'config reload rejected: the running config stays'), 'no reload was rejected')
})

t.test('on_redis_error: local toggled on the embedded store keeps its counts', async (t) => {
  // The regression: any change of the local fallback rebuilt every store, so the
  // embedded store started from zero and every client got a fresh budget.
  const upstream = await startUpstream(t)
  const base = `${LISTEN}
upstream: ${upstream.url}
plans: { free: [ { max: 2, per: 1h } ] }
keys: [ { name: acme, sha256: "${sha256(KEY)}", plan: free } ]
`
  const tollgate = await startTollgate(t, { configYaml: base })
  t.strictSame(await statuses(tollgate, 3), [200, 200, 429])
  await reloadTo(tollgate, `${base}on_redis_error: local\n`)
  t.strictSame(await statuses(tollgate, 1), [429], 'still spent')
  await reloadTo(tollgate, base)
  t.strictSame(await statuses(tollgate, 1), [429], 'and back')
})
