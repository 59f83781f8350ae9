import t from 'tap'
import { startTollgate, type Tollgate } from '../helpers/child'
import { get } from '../helpers/http'
import { startRedis } from '../helpers/redis'
import { LISTEN } from '../helpers/stack'
import { startUpstream } from '../helpers/upstream'

// Shadow mode as /metrics reports it: the real CLI on a real redis-server, limits
// counted and never enforced.

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

/** The series with exactly these labels, or undefined when it does not exist. */
function valueOf (samples: readonly Sample[], name: string, labels: Labels = {}): number | undefined {
  const keys = Object.keys(labels)
  return samples.find((s) => s.name === name && Object.keys(s.labels).length === keys.length &&
    keys.every((k) => s.labels[k] === String(labels[k])))?.value
}

async function scrape (tollgate: Tollgate): Promise<Sample[]> {
  const res = await get(`${tollgate.adminUrl}/metrics`)
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}: ${res.body}`)
  return parseSamples(res.body)
}

const DECISIONS = ['allowed', 'limited', 'would_limit', 'degraded']

t.test('shadow mode: over the limit is would_limit, never limited, and the request goes through', async (t) => {
  const redis = await startRedis(t)
  const upstream = await startUpstream(t)
  const tollgate = await startTollgate(t, {
    readyTimeoutMs: READY_TIMEOUT_MS,
    configYaml: `${LISTEN}
upstream: ${upstream.url}
redis: ${redis.url}
shadow: true
plans:
  free: [ { max: 2, per: 1m } ]
  anonymous: [ { max: 1, per: 1m } ]
keys: [ { name: initech, key: initech-key, plan: free } ]`
  })
  const zero = await scrape(tollgate)
  for (const decision of DECISIONS) {
    t.equal(valueOf(zero, 'tollgate_ratelimit_decisions_total', { client: 'anonymous', plan: 'anonymous', decision }), 0,
      `with an anonymous plan, anonymous/anonymous/${decision} is zeroed too`)
  }
  const statuses = []
  for (let i = 0; i < 4; i++) statuses.push((await get(`${tollgate.proxyUrl}/s`, { 'x-api-key': 'initech-key' })).status)
  t.same(statuses, [200, 200, 200, 200], 'shadow never refuses')
  t.same([(await get(`${tollgate.proxyUrl}/s`)).status, (await get(`${tollgate.proxyUrl}/s`)).status], [200, 200], 'nor anonymous callers')
  const samples = await scrape(tollgate)
  const decided = (client: string, plan: string, decision: string): number | undefined =>
    valueOf(samples, 'tollgate_ratelimit_decisions_total', { client, plan, decision })
  t.equal(decided('initech', 'free', 'allowed'), 2)
  t.equal(decided('initech', 'free', 'would_limit'), 2)
  t.equal(decided('initech', 'free', 'limited'), 0)
  t.equal(decided('anonymous', 'anonymous', 'allowed'), 1)
  t.equal(decided('anonymous', 'anonymous', 'would_limit'), 1)
  t.equal(decided('anonymous', 'anonymous', 'limited'), 0)
  t.equal(valueOf(samples, 'tollgate_upstream_requests_total', { status_class: '2xx' }), 6, 'all six reached the app')
})
