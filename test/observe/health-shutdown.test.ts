import t from 'tap'
import { Client } from 'undici'
import { startTollgate } from '../helpers/child'
import { get } from '../helpers/http'
import { startRedis } from '../helpers/redis'
import { LISTEN } from '../helpers/stack'
import { startUpstream } from '../helpers/upstream'

/*
 * SIGTERM turns readiness red at once: the shutdown component is checked on every
 * probe, never served from the one-second cache. The real CLI in a child process and a
 * real signal.
 *
 * With `drain_delay: 0s` the proxy listener closes at once and the admin listener once
 * the requests in flight are done: a slow request through the proxy keeps the admin
 * port open long enough to probe.
 */

/**
 * A child transpiles the sources it has not seen yet as it starts: on a loaded machine that
 * alone can pass the helper's 15 s default, and start-up time is not what this file tests.
 */
const READY_TIMEOUT_MS = 60_000

t.test('on SIGTERM readiness turns 503 at once, liveness stays 200, the request in flight finishes', async (t) => {
  const redis = await startRedis(t)
  const upstream = await startUpstream(t)
  const tg = await startTollgate(t, {
    configYaml: `${LISTEN}
upstream: ${upstream.url}
upstream_health: { path: /status/200, interval: 1s, timeout: 500ms }
redis: ${redis.url}
on_redis_error: deny
shutdown: { drain_delay: 0s, grace: 5s }
plans: { free: [ { max: 1000, per: 1s } ] }
keys: [ { name: acme, key: acme-key, plan: free } ]`,
    readyTimeoutMs: READY_TIMEOUT_MS
  })

  // Its own connection, closed once answered: the exit below then does not depend on
  // how the drain treats kept-alive sockets (the drain's own tests cover that).
  const client = new Client(tg.proxyUrl)
  t.teardown(async () => { if (!client.closed) await client.close() })
  const inFlight = get(`${tg.proxyUrl}/slow/2000`, { 'x-api-key': 'acme-key' }, { dispatcher: client })
  // Taken before asking: an upper bound on the age of the cache this probe fills.
  const cachedAt = Date.now()
  const cached = await get(`${tg.adminUrl}/health/full`)
  t.equal(cached.status, 200, 'healthy before the signal; this also fills the cache')
  const before = cached.json() as { checks: Record<string, Array<{ time: string }>> }
  while (upstream.requests.every((r) => r.url !== '/slow/2000')) await new Promise((resolve) => setTimeout(resolve, 10))

  tg.signal('SIGTERM')
  // Logged once the handler has run, so the probes below come after the signal took effect.
  await tg.waitForLog((l) => typeof l.msg === 'string' && l.msg.startsWith('shutting down'))
  const ready = await get(`${tg.adminUrl}/health/ready`)
  const full = await get(`${tg.adminUrl}/health/full`)
  const sinceCached = Date.now() - cachedAt
  t.equal(ready.status, 503, 'the first probe after the signal is 503')
  t.same(ready.json(), { status: 'fail', failing: ['shutdown'] })
  t.equal(full.status, 503)
  const after = full.json() as { status: string, checks: Record<string, Array<{ status: string, observedValue: unknown, time: string }>> }
  t.equal(after.status, 'fail')
  t.match(after.checks['shutdown:state']?.[0], { status: 'fail', observedValue: 'draining' })
  t.equal(after.checks['redis:responseTime']?.[0]?.status, 'pass', 'the others still pass')
  if (sinceCached < 1000) {
    t.equal(after.checks['redis:responseTime']?.[0]?.time, before.checks['redis:responseTime']?.[0]?.time,
      'within the cache second: the others come from the cache, shutdown does not')
  } else {
    t.comment(`the cache second had passed (${sinceCached} ms): the cached-versus-live case is left to health-unit-cache.test.ts`)
  }

  const live = await get(`${tg.adminUrl}/health/live`)
  t.equal(live.status, 200, 'live during the drain')
  t.same(live.json(), { status: 'pass' })

  const finished = await inFlight
  t.equal(finished.status, 200, 'the request in flight at the signal finishes')
  t.same(finished.json(), { slow: 2000 })
  await client.close()
  const exit = await tg.exited
  t.same(exit, { code: 0, signal: null }, 'and the process exits 0')
})
