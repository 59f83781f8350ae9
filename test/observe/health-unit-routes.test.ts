import Fastify from 'fastify'
import t from 'tap'
import { Health, registerHealthRoutes, type Observation } from '../../src/observe/health'
import { clock, counting } from './health-fakes'

// The health routes in process: /health/live, /health/ready and /health/full over fake
// components, shared by the tests of this file (health-fakes.ts has the fakes).

const upstream = counting('upstream:responseTime')
const redis = counting('redis:responseTime', { required: false })
const config = counting('config:reload')
const app = Fastify()
const c = clock()
registerHealthRoutes(app, new Health({ components: () => [redis, upstream, config], now: c.now }), { version: '9.9.9' })
t.teardown(async () => await app.close())
const next = async (states: { redis?: Observation, upstream?: Observation, config?: Observation }): Promise<void> => {
  redis.next = states.redis ?? { status: 'pass' }
  upstream.next = states.upstream ?? { status: 'pass' }
  config.next = states.config ?? { status: 'pass' }
  c.at += 1000
}
t.test('/health/live never runs a check and is 200 even when all fail', async (t) => {
  const fail: Observation = { status: 'fail' }
  await next({ redis: fail, upstream: fail, config: fail })
  const before = upstream.calls + redis.calls + config.calls
  const res = await app.inject('/health/live')
  t.equal(res.statusCode, 200)
  t.same(res.json(), { status: 'pass' })
  t.equal(upstream.calls + redis.calls + config.calls, before, 'no component was asked')
})

t.test('/health/ready: 200 when all pass or only warn, 503 naming the failing required ones', async (t) => {
  await next({})
  let res = await app.inject('/health/ready')
  t.equal(res.statusCode, 200)
  t.same(res.json(), { status: 'pass' })

  await next({ redis: { status: 'fail' } })
  res = await app.inject('/health/ready')
  t.equal(res.statusCode, 200, 'a non-required failure is a warning: still ready')

  await next({ upstream: { status: 'fail' } })
  res = await app.inject('/health/ready')
  t.equal(res.statusCode, 503)
  t.same(res.json(), { status: 'fail', failing: ['upstream'] })

  await next({ upstream: { status: 'fail' }, config: { status: 'fail' }, redis: { status: 'fail' } })
  res = await app.inject('/health/ready')
  t.equal(res.statusCode, 503)
  t.same(res.json(), { status: 'fail', failing: ['upstream', 'config'] }, 'every failing required one, not the warning')
})

t.test('/health/full: application/health+json; 200 on pass and warn, 503 on fail', async (t) => {
  for (const [states, status, code] of [
    [{}, 'pass', 200],
    [{ config: { status: 'warn', output: 'last reload rejected' } }, 'warn', 200],
    [{ redis: { status: 'fail', output: 'ECONNREFUSED' } }, 'warn', 200],
    [{ upstream: { status: 'fail', output: 'ECONNREFUSED' } }, 'fail', 503]
  ] as const) {
    await next(states)
    const res = await app.inject('/health/full')
    t.equal(res.statusCode, code, `${status} → ${code}`)
    t.match(res.headers['content-type'], /^application\/health\+json(;|$)/)
    const body = res.json<{ status: string, version: string, checks: Record<string, unknown[]> }>()
    t.equal(body.status, status)
    t.equal(body.version, '9.9.9')
    t.same(Object.keys(body.checks), ['redis:responseTime', 'upstream:responseTime', 'config:reload'])
    for (const [key, entries] of Object.entries(body.checks)) {
      t.equal(entries.length, 1, `${key}: an array of one observation`)
      t.match(entries[0], { status: /^(pass|warn|fail)$/, componentId: key.split(':')[0], time: String, latencyMs: Number }, key)
      t.notOk('key' in (entries[0] as object), `${key}: the key is not repeated inside`)
    }
  }
})
