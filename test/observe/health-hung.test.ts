import t from 'tap'
import { startTollgate } from '../helpers/child'
import { get } from '../helpers/http'
import { startRedis } from '../helpers/redis'
import { startUpstream } from '../helpers/upstream'
import { check, fullHealthConfig as config, READY_TIMEOUT_MS } from '../helpers/metrics'

/*
 * A hung Redis (SIGSTOP: the connection stays open, nothing answers) cannot hang the
 * health probes: each check has its own short timeout, they run side by side, and the
 * latency of the one that hung is reported. The real CLI in a child process, a real
 * redis-server and a real upstream.
 */

interface Check { status: string, output?: string, time: string, latencyMs: number }
interface Full { status: string, checks: Record<string, Check[]> }

t.test('a hung Redis (SIGSTOP) cannot hang the probe: answered within ~1.5 s, latency reported', async (t) => {
  const redis = await startRedis(t)
  const upstream = await startUpstream(t)
  // deny with a 10 s command timeout: only the health check's own 1 s timeout can bound it.
  // allow with the default 250 ms: the client's timeout answers first.
  const [deny, allow] = await Promise.all([
    startTollgate(t, { configYaml: config(upstream.url, `{ url: "${redis.url}", timeout: 10s }`, 'deny'), readyTimeoutMs: READY_TIMEOUT_MS }),
    startTollgate(t, { configYaml: config(upstream.url, redis.url, 'allow'), readyTimeoutMs: READY_TIMEOUT_MS })
  ])
  redis.pause()
  t.teardown(() => redis.resume())

  let started = Date.now()
  const denied = await get(`${deny.adminUrl}/health/full`)
  let elapsed = Date.now() - started
  // ~1 s, bounded by the check's timeout; the bound leaves room for a loaded CI machine.
  t.ok(elapsed < 2000, `deny: answered in ${elapsed} ms, not after the client's 10 s`)
  t.equal(denied.status, 503)
  const failed = denied.json() as Full
  const hung = check(failed, 'redis:responseTime')
  t.match(hung, { status: 'fail', output: 'no answer within 1000 ms' })
  t.ok(hung.latencyMs >= 950 && hung.latencyMs < 1500, `deny: the check's latency, ${hung.latencyMs} ms, is reported`)
  const upstreamCheck = check(failed, 'upstream:responseTime')
  t.equal(upstreamCheck.status, 'pass', 'the upstream still reports')
  // `time` is when a check ended: minus its latency, when it began. One after the other,
  // the upstream's would begin a second after Redis'.
  const began = (c: Check): number => Date.parse(c.time) - c.latencyMs
  t.ok(Math.abs(began(upstreamCheck) - began(hung)) < 300, `checked side by side: began ${began(upstreamCheck) - began(hung)} ms apart`)
  const ready = await get(`${deny.adminUrl}/health/ready`)
  t.equal(ready.status, 503)
  t.same(ready.json(), { status: 'fail', failing: ['redis'] })

  started = Date.now()
  const allowed = await get(`${allow.adminUrl}/health/full`)
  elapsed = Date.now() - started
  t.ok(elapsed < 2000, `allow: answered in ${elapsed} ms`)
  t.equal(allowed.status, 200)
  const warned = allowed.json() as Full
  t.equal(warned.status, 'warn')
  const slow = check(warned, 'redis:responseTime')
  t.match(slow, { status: 'warn', output: /timed out/i })
  t.ok(slow.latencyMs >= 200, `allow: latency ${slow.latencyMs} ms, the client's 250 ms timeout`)
})
