import t from 'tap'
import { startTollgate } from '../helpers/child'
import { get } from '../helpers/http'
import { LISTEN } from '../helpers/stack'
import { startUpstream } from '../helpers/upstream'
import { pollUntil as until, READY_TIMEOUT_MS, ready } from '../helpers/metrics'

/*
 * `/health/ready` and the upstream, end to end: the real CLI in a child process in
 * front of a real upstream, with the embedded store (Redis has its own file,
 * health-redis.test.ts). Short probe intervals keep every wait under two seconds.
 */

/**
 * How soon a change must show: the rest of one cache second, then one check (~1 s in
 * all), with room for a loaded CI machine. A cache that never expired never gets there.
 */
const SOON_MS = 2500

const PLANS = 'plans: { free: [ { max: 1000, per: 1s } ] }'

function config (upstream: string | undefined, path?: string): string {
  return [
    LISTEN,
    ...(upstream === undefined ? [] : [`upstream: ${upstream}`]),
    `upstream_health: { ${path === undefined ? '' : `path: "${path}", `}interval: 1s, timeout: 500ms }`,
    PLANS
  ].join('\n')
}

t.test('HTTP check: ready while the health path answers 2xx, 503 naming the upstream while it answers 5xx', async (t) => {
  let status = 200
  const upstream = await startUpstream(t, {
    handle: (req, res) => {
      if (req.url !== '/healthz') return false
      res.writeHead(status).end()
      return true
    }
  })
  const tg = await startTollgate(t, { configYaml: config(upstream.url, '/healthz'), readyTimeoutMs: READY_TIMEOUT_MS })
  const good = await ready(tg)
  t.equal(good.status, 200)
  t.same(good.json(), { status: 'pass' })
  t.match(good.headers['content-type'], /^application\/json/)
  t.ok(upstream.requests.some((r) => r.method === 'GET' && r.url === '/healthz'), 'the configured GET was sent')

  status = 503
  const red = await until(`${tg.adminUrl}/health/ready`, (res) => res.status === 503, 5000)
  // The port still accepts: only the HTTP check can see this.
  t.same(red.res.json(), { status: 'fail', failing: ['upstream'] })
  t.ok(red.ms < SOON_MS, `503 within ${red.ms} ms of the app failing (cache: one second)`)

  status = 200
  const green = await until(`${tg.adminUrl}/health/ready`, (res) => res.status === 200, 5000)
  t.equal(green.res.status, 200)
  t.ok(green.ms < SOON_MS, `200 again within ${green.ms} ms`)
})

t.test('TCP check (no path): ready while the port accepts, 503 once nothing listens', async (t) => {
  const upstream = await startUpstream(t)
  const tg = await startTollgate(t, { configYaml: config(upstream.url), readyTimeoutMs: READY_TIMEOUT_MS })
  t.equal((await ready(tg)).status, 200)
  t.equal(upstream.requests.length, 0, 'a TCP check sends no HTTP request')

  await upstream.close()
  const red = await until(`${tg.adminUrl}/health/ready`, (res) => res.status === 503, 5000)
  t.same(red.res.json(), { status: 'fail', failing: ['upstream'] })
  t.ok(red.ms < SOON_MS, `503 within ${red.ms} ms of the app closing its port`)
})

t.test('decision-API-only mode (no upstream): the upstream check passes', async (t) => {
  const tg = await startTollgate(t, { configYaml: config(undefined), readyTimeoutMs: READY_TIMEOUT_MS })
  const res = await ready(tg)
  t.equal(res.status, 200)
  t.same(res.json(), { status: 'pass' })
  const full = await get(`${tg.adminUrl}/health/full`)
  t.equal(full.status, 200)
  const body = full.json() as { status: string, checks: Record<string, Array<Record<string, unknown>>> }
  t.equal(body.status, 'pass')
  t.match(body.checks['upstream:responseTime']?.[0], { status: 'pass', required: false, observedValue: 'no upstream: decision API only' })
})
