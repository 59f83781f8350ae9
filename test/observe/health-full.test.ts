import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { startTollgate } from '../helpers/child'
import { REPO_ROOT } from '../helpers/spawn-ts'
import { get, type TextResponse } from '../helpers/http'
import { startRedis } from '../helpers/redis'
import { startUpstream } from '../helpers/upstream'
import { check, fullHealthConfig as config, READY_TIMEOUT_MS } from '../helpers/metrics'

/*
 * `/health/full` end to end: the real CLI in a child process, a real redis-server
 * (killed, or hung with SIGSTOP) and a real upstream. The response is the IETF
 * health-check draft's shape: `application/health+json`, `status`, and `checks` keyed
 * `component:measurement`, each an array of one observation.
 */

interface Check {
  status: string
  componentId: string
  required: boolean
  observedValue?: unknown
  observedUnit?: string
  output?: string
  time: string
  latencyMs: number
}
interface Full { status: string, version: string, checks: Record<string, Check[]> }

const KEYS = ['redis:responseTime', 'upstream:responseTime', 'config:reload', 'eventloop:delay', 'memory:utilization', 'shutdown:state', 'controls:count']

function parse (res: TextResponse): Full {
  return res.json() as Full
}

t.test('every component, in the IETF shape; the config hash is the one the start logged', async (t) => {
  const redis = await startRedis(t)
  const upstream = await startUpstream(t)
  const before = Date.now()
  const tg = await startTollgate(t, { configYaml: config(upstream.url, redis.url, 'deny'), readyTimeoutMs: READY_TIMEOUT_MS })
  const listening = await tg.waitForLog((l) => l.msg === 'tollgate listening')
  const res = await get(`${tg.adminUrl}/health/full`)
  const after = Date.now()

  t.equal(res.status, 200)
  t.match(res.headers['content-type'], /^application\/health\+json(;|$)/)
  const full = parse(res)
  t.equal(full.status, 'pass')
  const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }
  t.equal(full.version, pkg.version)
  t.same(Object.keys(full.checks).sort(), [...KEYS].sort(), 'redis, upstream, config, event loop, memory, shutdown')

  for (const key of KEYS) {
    const entry = check(full, key)
    t.equal(entry.status, 'pass', `${key}: pass`)
    t.equal(entry.componentId, key.split(':')[0], `${key}: componentId`)
    t.match(entry.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, `${key}: time is ISO 8601`)
    const time = Date.parse(entry.time)
    t.ok(time >= before && time <= after, `${key}: time is when it was checked`)
    t.ok(typeof entry.latencyMs === 'number' && entry.latencyMs >= 0 && entry.latencyMs < 1000, `${key}: latencyMs ${entry.latencyMs}`)
    t.ok('observedValue' in entry, `${key}: has an observedValue`)
  }
  const required = Object.fromEntries(KEYS.map((key) => [key.split(':')[0], check(full, key).required]))
  t.same(required, { redis: true, upstream: true, config: true, eventloop: false, memory: false, shutdown: true, controls: false }, 'under deny Redis is required')

  const redisCheck = check(full, 'redis:responseTime')
  t.match(redisCheck.observedValue, { topology: 'single', primary: /^127\.0\.0\.1:\d+$/, roundTripMs: Number }, 'the topology and the PING round trip')
  t.equal(check(full, 'upstream:responseTime').observedValue, 'GET /status/200 → 200')
  t.equal(check(full, 'shutdown:state').observedValue, 'serving')
  t.same(check(full, 'controls:count').observedValue, { overrides: 0, bans: 0 })
  t.equal(check(full, 'eventloop:delay').observedUnit, 'ms')
  t.match(check(full, 'memory:utilization').observedValue, { rssBytes: Number, heapUsedBytes: Number, heapUsedRatio: Number })

  const configValue = check(full, 'config:reload').observedValue as { hash: string, loadedAt: string, lastReload: string }
  t.equal(typeof listening.config, 'string')
  t.equal(configValue.hash, listening.config, 'the hash of the `tollgate listening` line')
  t.equal(configValue.lastReload, 'none', 'no reload yet')
  const loadedAt = Date.parse(configValue.loadedAt)
  t.equal(new Date(loadedAt).toISOString(), configValue.loadedAt, 'loadedAt is ISO 8601')
  t.ok(loadedAt >= before && loadedAt <= Date.parse(String(listening.time)), 'loaded before it listened')
})

t.test('a dead Redis: warn and 200 under allow, fail and 503 under deny', async (t) => {
  const redis = await startRedis(t)
  const upstream = await startUpstream(t)
  const [allow, deny] = await Promise.all([
    startTollgate(t, { configYaml: config(upstream.url, redis.url, 'allow'), readyTimeoutMs: READY_TIMEOUT_MS }),
    startTollgate(t, { configYaml: config(upstream.url, redis.url, 'deny'), readyTimeoutMs: READY_TIMEOUT_MS })
  ])
  const allowUp = parse(await get(`${allow.adminUrl}/health/full`))
  t.equal(allowUp.status, 'pass')
  t.equal(check(allowUp, 'redis:responseTime').required, false, 'allow: Redis is not required once it has answered')

  await redis.kill()
  // Past the cache second of any earlier probe.
  await new Promise((resolve) => setTimeout(resolve, 1100))
  const [allowed, denied] = await Promise.all([get(`${allow.adminUrl}/health/full`), get(`${deny.adminUrl}/health/full`)])

  t.equal(allowed.status, 200, 'allow: 200')
  const warned = parse(allowed)
  t.equal(warned.status, 'warn')
  t.match(check(warned, 'redis:responseTime'), { status: 'warn', required: false, output: String })
  t.equal(check(warned, 'upstream:responseTime').status, 'pass')

  t.equal(denied.status, 503, 'deny: 503')
  t.match(denied.headers['content-type'], /^application\/health\+json(;|$)/)
  const failed = parse(denied)
  t.equal(failed.status, 'fail')
  t.match(check(failed, 'redis:responseTime'), { status: 'fail', required: true, output: String })
  t.equal(check(failed, 'upstream:responseTime').status, 'pass', 'the other checks still report')
})
