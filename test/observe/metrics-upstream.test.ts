import { createServer, type Server } from 'node:http'
import t from 'tap'
import { startTollgate, type Tollgate } from '../helpers/child'
import { get } from '../helpers/http'
import { freePort } from '../helpers/ports'
import { LISTEN } from '../helpers/stack'
import { deadPort } from '../helpers/upstream'

// The upstream as /metrics sees it: tollgate_upstream_up from a periodic check of its
// own, and forwards that get no answer.

/**
 * A child transpiles the sources it has not seen yet as it starts: on a loaded machine that
 * alone can pass the helper's 15 s default, and start-up time is not what this file tests.
 */
const READY_TIMEOUT_MS = 60_000

/** The value of one series, written exactly as /metrics writes it (name and labels); undefined when absent. */
async function read (tollgate: Tollgate, series: string): Promise<number | undefined> {
  const res = await get(`${tollgate.adminUrl}/metrics`)
  const line = res.body.split('\n').find((l) => l.startsWith(`${series} `))
  return line === undefined ? undefined : Number(line.slice(series.length + 1))
}

async function upstreamUp (tollgate: Tollgate): Promise<number | undefined> {
  return await read(tollgate, 'tollgate_upstream_up')
}

/** Scrapes every 100 ms until the gauge reads `value`; resolves the ms it took. */
async function waitForUp (tollgate: Tollgate, value: number, timeoutMs: number): Promise<number> {
  const started = Date.now()
  let seen: number | undefined
  while (Date.now() - started < timeoutMs) {
    seen = await upstreamUp(tollgate)
    if (seen === value) return Date.now() - started
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error(`tollgate_upstream_up still ${String(seen)} after ${timeoutMs} ms, expected ${value}`)
}

async function listen (port: number, onRequest: () => void): Promise<Server> {
  const server = createServer((_req, res) => { onRequest(); res.end('ok') })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, '127.0.0.1', resolve)
  })
  return server
}

async function close (server: Server): Promise<void> {
  await new Promise<void>((resolve) => {
    server.close(() => resolve())
    server.closeAllConnections()
  })
}

t.test('upstream_up: 1, then 0 within ~2 s of the app closing, then 1 when an app listens on the port again', async (t) => {
  const port = await freePort()
  let requests = 0
  const first = await listen(port, () => { requests++ })
  t.teardown(async () => await close(first))
  const tollgate = await startTollgate(t, {
    readyTimeoutMs: READY_TIMEOUT_MS,
    configYaml: `${LISTEN}
upstream: http://127.0.0.1:${port}
upstream_health: { interval: 1s, timeout: 500ms }
plans: { free: [ { max: 10, per: 1m } ] }`
  })
  t.equal(await upstreamUp(tollgate), 1, 'up while the app listens')

  await close(first)
  const downAfter = await waitForUp(tollgate, 0, 3000)
  t.ok(downAfter <= 2500, `0 within ${downAfter} ms of the app closing, from the periodic check alone`)

  const second = await listen(port, () => { requests++ })
  t.teardown(async () => await close(second))
  const upAfter = await waitForUp(tollgate, 1, 3000)
  t.ok(upAfter <= 2500, `1 again within ${upAfter} ms of an app listening on the port`)
  t.equal(requests, 0, 'no HTTP request reached either app: the check is a TCP connect, and nobody sent traffic')
  t.notOk(tollgate.logs().some((line) => line.msg === 'request'), 'no request went through the proxy')
})

t.test('upstream down: the forward fails and is counted as status_class="error"', async (t) => {
  const tollgate = await startTollgate(t, {
    readyTimeoutMs: READY_TIMEOUT_MS,
    configYaml: `${LISTEN}
upstream: http://127.0.0.1:${await deadPort()}
plans: { free: [ { max: 100, per: 1m } ] }
keys: [ { name: acme, key: acme-key, plan: free } ]`
  })
  t.equal(await read(tollgate, 'tollgate_upstream_requests_total{status_class="error"}'), 0)
  t.equal(await upstreamUp(tollgate), 0, 'the start-up check already saw it down')
  t.equal((await get(`${tollgate.proxyUrl}/x`, { 'x-api-key': 'acme-key' })).status, 502)
  t.equal((await get(`${tollgate.proxyUrl}/y`, { 'x-api-key': 'acme-key' })).status, 502)
  t.equal(await read(tollgate, 'tollgate_upstream_requests_total{status_class="error"}'), 2)
  t.equal(await read(tollgate, 'tollgate_upstream_duration_seconds_count{status_class="error"}'), 2)
  t.equal(await read(tollgate, 'tollgate_upstream_requests_total{status_class="5xx"}'), 0, 'our own 502 is not the app\'s 5xx')
  t.equal(await read(tollgate, 'tollgate_http_requests_total{listener="proxy",method="GET",route="default",status_code="502"}'), 2)
  t.equal(await read(tollgate, 'tollgate_ratelimit_decisions_total{client="acme",plan="free",decision="allowed"}'), 2)
  t.equal(await read(tollgate, 'tollgate_redis_up'), 0, 'no Redis configured: redis_up is 0')
})
