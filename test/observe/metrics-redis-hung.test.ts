import t from 'tap'
import { startTollgate, type Tollgate } from '../helpers/child'
import { get } from '../helpers/http'
import { startRedis } from '../helpers/redis'
import { LISTEN } from '../helpers/stack'
import { startUpstream } from '../helpers/upstream'

// Redis trouble as /metrics reports it: a real redis-server paused (SIGSTOP, a hung
// Redis) and resumed under a running sidecar (metrics-redis-down.test.ts: killed).

/**
 * A child compiles the sources with ts-node as it starts: on a loaded machine that
 * alone can pass the helper's 15 s default, and start-up time is not what this file tests.
 */
const READY_TIMEOUT_MS = 60_000

interface Sample { readonly name: string, readonly labels: Readonly<Record<string, string>>, readonly value: number }
type Labels = Readonly<Record<string, string | number>>

function parseSamples (body: string): Sample[] {
  const samples: Sample[] = []
  for (const line of body.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (match === null) throw new Error(`not a sample line: ${line}`)
    const labels: Record<string, string> = {}
    for (const [, name, value] of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[name] = value
    samples.push({ name: match[1], labels, value: Number(match[3]) })
  }
  return samples
}

/** The series with exactly these labels, or NaN when it does not exist. */
function valueOf (samples: readonly Sample[], name: string, labels: Labels = {}): number {
  const keys = Object.keys(labels)
  return samples.find((s) => s.name === name && Object.keys(s.labels).length === keys.length &&
    keys.every((k) => s.labels[k] === String(labels[k])))?.value ?? Number.NaN
}

async function scrape (tollgate: Tollgate): Promise<Sample[]> {
  const res = await get(`${tollgate.adminUrl}/metrics`)
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}: ${res.body}`)
  return parseSamples(res.body)
}

const sleep = async (ms: number): Promise<void> => await new Promise((resolve) => setTimeout(resolve, ms))

/**
 * Scrapes until `done` holds, running `between` (e.g. a request) before each try;
 * rejects after `timeoutMs` with the last values of `show`.
 */
async function until (tollgate: Tollgate, done: (s: Sample[]) => boolean, timeoutMs: number, show: string[], between?: () => Promise<unknown>): Promise<Sample[]> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    await between?.()
    const samples = await scrape(tollgate)
    if (done(samples)) return samples
    if (Date.now() > deadline) {
      const seen = samples.filter((s) => show.includes(s.name)).map((s) => `${s.name}${JSON.stringify(s.labels)} ${s.value}`)
      throw new Error(`not reached within ${timeoutMs} ms; last seen:\n${seen.join('\n')}`)
    }
    await sleep(50)
  }
}

const REDIS_METRICS = ['tollgate_redis_up', 'tollgate_redis_errors_total', 'tollgate_redis_circuit_state', 'tollgate_ratelimit_decisions_total']
const errors = (s: readonly Sample[], kind: string): number => valueOf(s, 'tollgate_redis_errors_total', { kind })
const decided = (s: readonly Sample[], decision: string): number =>
  valueOf(s, 'tollgate_ratelimit_decisions_total', { client: 'acme', plan: 'free', decision })

t.test('Redis paused (SIGSTOP) under load: timeouts open the circuit (state 2), resume and a probe close it (state 0)', async (t) => {
  const redis = await startRedis(t)
  const upstream = await startUpstream(t)
  const tollgate = await startTollgate(t, {
    readyTimeoutMs: READY_TIMEOUT_MS,
    configYaml: `${LISTEN}
upstream: ${upstream.url}
redis: { url: ${redis.url}, timeout: 100ms }
plans: { free: [ { max: 1000, per: 1m } ] }
keys: [ { name: acme, key: acme-key, plan: free } ]`
  })
  t.teardown(() => redis.resume())
  const key = { 'x-api-key': 'acme-key' }
  t.equal((await get(`${tollgate.proxyUrl}/p`, key)).status, 200)
  const before = await scrape(tollgate)
  t.equal(valueOf(before, 'tollgate_redis_circuit_state'), 0, 'closed while Redis answers')
  t.equal(errors(before, 'timeout'), 0)

  redis.pause()
  const started = Date.now()
  const load = await Promise.all(Array.from({ length: 10 }, async () => await get(`${tollgate.proxyUrl}/p`, key)))
  t.same(load.map((r) => r.status), Array(10).fill(200), 'allow: every request is served without Redis')
  // A hung Redis without a command timeout would hold them until resume().
  t.ok(Date.now() - started < 5000, `none hung: ${Date.now() - started} ms for all 10, with a 100 ms Redis timeout`)
  const paused = await scrape(tollgate)
  t.ok(errors(paused, 'timeout') >= 5, `timeouts counted (${errors(paused, 'timeout')})`)
  t.equal(errors(paused, 'connection'), 0, 'the connection itself is fine: no connection errors')
  t.equal(valueOf(paused, 'tollgate_redis_circuit_state'), 2, 'the circuit is open')
  t.equal(decided(paused, 'degraded'), 10)

  // While open, the breaker answers at once (a request past its pause probes instead).
  await until(tollgate, (s) => errors(s, 'circuit_open') >= 1, 5000, REDIS_METRICS, async () => await get(`${tollgate.proxyUrl}/p`, key))
  t.pass('circuit_open counted while the circuit is open')

  redis.resume()
  const resumedAt = Date.now()
  const closed = await until(tollgate, (s) => valueOf(s, 'tollgate_redis_circuit_state') === 0, 8000, REDIS_METRICS,
    async () => await get(`${tollgate.proxyUrl}/p`, key))
  t.equal(valueOf(closed, 'tollgate_redis_circuit_state'), 0, `closed again ${Date.now() - resumedAt} ms after resume, by a successful probe`)
  t.ok(decided(closed, 'allowed') >= 2, 'decided by Redis again')
  t.equal(valueOf(closed, 'tollgate_redis_up'), 1)
})
