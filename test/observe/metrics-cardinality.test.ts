import { randomBytes } from 'node:crypto'
import t from 'tap'
import { Pool } from 'undici'
import { at } from '../helpers/at'
import { inProcess } from '../helpers/app'
import { get } from '../helpers/http'
import { startRedis } from '../helpers/redis'
import { startUpstream } from '../helpers/upstream'

// The cardinality guard: distinct keys and paths by the thousand must not add a single
// series to /metrics, nor appear in it. The app is built in process, on real sockets, a
// real redis-server and a real upstream: the labels are the route logic's, not the CLI's.

/**
 * prom-client default metrics whose label values describe the process at the moment
 * of the scrape (handle and resource types alive, GC kinds seen so far): they come and
 * go with what the process happens to be doing, not with the traffic's keys or paths,
 * so they are left out of the count.
 */
const PROCESS_STATE_FAMILIES = [
  'tollgate_nodejs_active_handles', 'tollgate_nodejs_active_requests', 'tollgate_nodejs_active_resources', 'tollgate_nodejs_gc_duration_seconds'
]

/** The series (name and labels, no value) of a Prometheus text body. */
function seriesOf (body: string): string[] {
  return body.split('\n').filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => line.slice(0, line.lastIndexOf(' ')))
    .filter((series) => !PROCESS_STATE_FAMILIES.includes(series.replace(/(_bucket|_sum|_count)?\{.*$/, '')))
}

async function metricsBody (tollgate: { readonly adminUrl: string }): Promise<string> {
  const res = await get(`${tollgate.adminUrl}/metrics`)
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}`)
  return res.body
}

const hex = (): string => randomBytes(8).toString('hex')

interface Kind { readonly name: string, request (): { path: string, headers: Record<string, string> } }

t.test('10,000 requests with distinct keys and paths add no series to /metrics, and none of them shows', async (t) => {
  const redis = await startRedis(t)
  const upstream = await startUpstream(t)
  const tollgate = await inProcess(t, `
upstream: ${upstream.url}
redis: ${redis.url}
plans:
  free: [ { max: 5, per: 1m } ]
  anonymous: [ { max: 5, per: 1m } ]
keys: [ { name: acme, key: acme-key, plan: free } ]
routes: [ { match: "GET /open/*", limit: false } ]`)

  const sentKeys: string[] = []
  const sentPaths: string[] = []
  const randomPath = (prefix: string): string => {
    const path = `${prefix}rp${hex()}`
    sentPaths.push(path)
    return path
  }
  const kinds: Kind[] = [
    {
      name: 'unknown key',
      request: () => {
        const key = `rk${hex()}`
        sentKeys.push(key)
        return { path: randomPath('/'), headers: { 'x-api-key': key } }
      }
    },
    {
      name: 'unknown bearer token',
      request: () => {
        const key = `rb${hex()}`
        sentKeys.push(key)
        return { path: randomPath('/v1/'), headers: { authorization: `Bearer ${key}` } }
      }
    },
    { name: 'valid key, random path', request: () => ({ path: randomPath('/'), headers: { 'x-api-key': 'acme-key' } }) },
    { name: 'no key, random path', request: () => ({ path: randomPath('/'), headers: {} }) },
    { name: 'limit: false, random path', request: () => ({ path: randomPath('/open/'), headers: {} }) }
  ]

  const pool = new Pool(tollgate.proxyUrl, { connections: 50, pipelining: 1 })
  t.teardown(async () => await pool.close())
  const statuses = new Map<string, number>()
  const run = async (total: number): Promise<void> => {
    let next = 0
    const worker = async (): Promise<void> => {
      while (next < total) {
        const kind = at(kinds, next++ % kinds.length)
        const { path, headers } = kind.request()
        const res = await pool.request({ method: 'GET', path, headers })
        await res.body.dump()
        const seen = `${kind.name} → ${res.statusCode}`
        statuses.set(seen, (statuses.get(seen) ?? 0) + 1)
      }
    }
    await Promise.all(Array.from({ length: 50 }, worker))
  }

  // The warm-up: each kind a few times, enough for the limited ones to reach 429.
  await run(kinds.length * 8)
  t.same(new Set(statuses.keys()), new Set([
    'unknown key → 401', 'unknown bearer token → 401', 'valid key, random path → 200', 'valid key, random path → 429',
    'no key, random path → 200', 'no key, random path → 429', 'limit: false, random path → 200'
  ]), 'the warm-up already produced every kind of answer')
  await metricsBody(tollgate) // so that the scrape itself is counted in what follows
  const warm = seriesOf(await metricsBody(tollgate))

  const started = Date.now()
  await run(10_000)
  t.comment(`10,000 requests in ${Date.now() - started} ms: ${JSON.stringify(Object.fromEntries(statuses))}`)
  t.equal([...statuses.values()].reduce((a, b) => a + b, 0), 10_000 + kinds.length * 8, 'every request answered')

  const body = await metricsBody(tollgate)
  const after = seriesOf(body)
  t.equal(after.length, warm.length, `${after.length} series after 10,000 requests, as after the warm-up`)
  t.same(after.filter((series) => !warm.includes(series)), [], 'no new series')
  t.match(body, /^tollgate_http_requests_total\{listener="proxy",method="GET",route="default",status_code="401"\} \d{4}$/m,
    'the requests were counted, under bounded labels')

  const leakedKeys = sentKeys.filter((key) => body.includes(key))
  const leakedPaths = sentPaths.filter((path) => body.includes(path.slice(path.lastIndexOf('/') + 1)))
  t.equal(sentKeys.length + sentPaths.length > 10_000, true, `${sentKeys.length} keys and ${sentPaths.length} paths sent`)
  t.same(leakedKeys.slice(0, 5), [], 'no raw key appears in /metrics')
  t.same(leakedPaths.slice(0, 5), [], 'no raw path appears in /metrics')
  t.notOk(body.includes('acme-key'), 'not even the valid one')
})
