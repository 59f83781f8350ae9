import { createHash } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import t from 'tap'
import { Agent, request } from 'undici'
import { textHash } from '../../src/config/load'
import { at } from '../helpers/at'
import { startTollgate, type Tollgate } from '../helpers/child'
import { type LogLine } from '../helpers/child-output'
import { get, post } from '../helpers/http'
import { startRedis } from '../helpers/redis'
import { LISTEN } from '../helpers/stack'
import { startUpstream } from '../helpers/upstream'

// Reloads under steady traffic, end to end: 50 keep-alive clients through the real
// CLI and a real redis-server while 20 reloads (valid and invalid, by the watch, SIGHUP
// and POST /-/reload) go through. No connection error, no 5xx; and every request sent
// after a reload's log line, and answered before the next edit, is decided by that config: the
// plan max it states, and whether the key `beta` exists.

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex')
const ACME_KEY = 'acme-load-key-0c3b'
const BETA_KEY = 'beta-load-key-93de'
const CLIENTS = 50
const RELOADS = 20
/** How long each config stays in force after its log line, so the traffic samples it. */
const HOLD_MS = 250
const REJECTED = 'config reload rejected: the running config stays'

/** Config version `v`: the plan max alternates, and `beta` exists only in even versions. */
const version = (upstream: string, redis: string, v: number): string => `${LISTEN}
upstream: ${upstream}
redis: ${redis}
plans: { free: [ { max: ${v % 2 === 0 ? 1_000_000 : 2_000_000}, per: 1h } ] }
keys:
  - { name: acme, sha256: "${sha256(ACME_KEY)}", plan: free }
${v % 2 === 0 ? `  - { name: beta, sha256: "${sha256(BETA_KEY)}", plan: free }\n` : ''}# version ${v}
`
const expected = (v: number): { limit: string, beta: number } => ({ limit: v % 2 === 0 ? '1000000' : '2000000', beta: v % 2 === 0 ? 200 : 401 })

/** Invalid files, each one different (a rejected text is reported once). */
const invalid = (upstream: string, redis: string, n: number): string => at([
  `${version(upstream, redis, 0)}plans: [ broken ${n}`,
  version(upstream, redis, 0).replace('max: 1000000', 'max: 0') + `# bad ${n}\n`,
  `# empty but for a comment ${n}\n`
], n % 3)

interface Sample { readonly sentAt: number, readonly answeredAt: number, readonly key: 'acme' | 'beta', readonly status: number, readonly limit: string | undefined }

function nextLog (tollgate: Tollgate, predicate: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine> {
  const from = tollgate.logs().length
  return tollgate.waitForLog((line) => predicate(line) && tollgate.logs().indexOf(line) >= from, timeoutMs)
}

t.test('20 reloads under 50 keep-alive clients: no error, no 5xx, each request decided by the config in force', async (t) => {
  const [redis, upstream] = await Promise.all([startRedis(t), startUpstream(t)])
  const tollgate = await startTollgate(t, { configYaml: version(upstream.url, redis.url, 0) })

  const agent = new Agent({ connections: CLIENTS, keepAliveTimeout: 30_000, pipelining: 1 })
  t.teardown(async () => { await agent.close() })
  const samples: Sample[] = []
  const failures: string[] = []
  let running = true
  const client = async (n: number): Promise<void> => {
    for (let i = n; running; i++) {
      const key = i % 2 === 0 ? 'acme' : 'beta'
      const sentAt = performance.now()
      try {
        const res = await request(`${tollgate.proxyUrl}/load/${n}`, { dispatcher: agent, headers: { 'x-api-key': key === 'acme' ? ACME_KEY : BETA_KEY } })
        await res.body.dump()
        const limit = res.headers['x-ratelimit-limit']
        samples.push({ sentAt, answeredAt: performance.now(), key, status: res.statusCode, limit: typeof limit === 'string' ? limit : undefined })
      } catch (error) {
        failures.push(`${(error as NodeJS.ErrnoException).code ?? ''} ${(error as Error).message}`)
      }
    }
  }
  // The config in force over time: from the moment its log line was seen (for the
  // first, from the start) to the next edit of the file that could replace it.
  const windows: Array<{ v: number, from: number, to: number }> = []
  let inForce = 0
  let seenAt = performance.now()
  const clients = Array.from({ length: CLIENTS }, async (_, n) => await client(n))
  await new Promise((resolve) => setTimeout(resolve, 500))
  let valid = 0
  let rejected = 0
  let nextVersion = 1
  for (let r = 0; r < RELOADS; r++) {
    const good = r % 4 !== 3
    const v = nextVersion
    const text = good ? version(upstream.url, redis.url, v) : invalid(upstream.url, redis.url, r)
    const trigger = ['watch', 'SIGHUP', 'POST /-/reload'][r % 3]
    const outcome = good
      ? nextLog(tollgate, (l) => l.msg === 'config reloaded' && l.hash === textHash(text))
      : nextLog(tollgate, (l) => l.msg === REJECTED)
    const writeAt = performance.now()
    if (good) windows.push({ v: inForce, from: seenAt, to: writeAt })
    await tollgate.writeConfig(text)
    if (trigger === 'SIGHUP') tollgate.signal('SIGHUP')
    if (trigger === 'POST /-/reload') {
      const res = await post(`${tollgate.adminUrl}/-/reload`, null)
      t.equal(res.status, good ? 200 : 400, `reload ${r} by POST: ${res.status}`)
    }
    const line = await outcome
    if (good) {
      seenAt = performance.now()
      inForce = v
      nextVersion++
      valid++
    } else {
      t.equal(line.hash, textHash(version(upstream.url, redis.url, inForce)), `reload ${r} rejected: version ${inForce} stays`)
      rejected++
    }
    await new Promise((resolve) => setTimeout(resolve, HOLD_MS))
  }
  windows.push({ v: inForce, from: seenAt, to: performance.now() })
  await new Promise((resolve) => setTimeout(resolve, 200))
  running = false
  await Promise.all(clients)

  let checked = 0
  const wrong: string[] = []
  for (const sample of samples) {
    // Sent after the config's line and answered before the next edit: a request still in
    // flight across an edit may be decided by either config, and is not checked.
    const window = windows.find((w) => sample.sentAt >= w.from && sample.answeredAt < w.to)
    if (window === undefined) continue
    checked++
    const want = expected(window.v)
    const status = sample.key === 'acme' ? 200 : want.beta
    const limit = status === 200 ? want.limit : undefined
    if (sample.status !== status || sample.limit !== limit) {
      wrong.push(`${sample.key} sent at ${sample.sentAt.toFixed(1)} under version ${window.v}: ${sample.status} limit ${String(sample.limit)}, want ${status} limit ${String(limit)}`)
    }
  }
  const byStatus: Record<number, number> = {}
  for (const s of samples) byStatus[s.status] = (byStatus[s.status] ?? 0) + 1
  const summary = { requests: samples.length + failures.length, reloads: RELOADS, applied: valid, rejected, connectionErrors: failures.length, byStatus, checkedInStableWindows: checked, wrong: wrong.length }
  t.comment(`under load: ${JSON.stringify(summary)}`)

  t.strictSame(failures, [], 'no connection error')
  t.equal(samples.filter((s) => s.status >= 500).length, 0, 'no 5xx')
  t.strictSame(wrong.slice(0, 10), [], 'every request sent while a config was in force was decided by it')
  t.equal(valid, 15)
  t.equal(rejected, 5)
  t.ok(samples.length > 2000, `steady traffic: ${samples.length} requests`)
  // Each window holds 250 ms or more; a request in flight across an edit is not checked.
  t.ok(checked > samples.length / 4, `a good share of requests fall in a stable window (${checked} of ${samples.length})`)
  for (const w of windows) {
    const inWindow = samples.filter((s) => s.sentAt >= w.from && s.sentAt < w.to)
    t.ok(inWindow.some((s) => s.key === 'beta'), `version ${w.v} in force for ${(w.to - w.from).toFixed(0)} ms was sampled (${inWindow.length} requests)`)
  }
  const { body } = await get(`${tollgate.adminUrl}/metrics`)
  t.match(body, /^tollgate_config_reloads_total\{result="success"\} 15$/m, 'each valid file applied once')
  // The watch may read a bad file before SIGHUP or POST does, and then they report it again.
  const counted = Number(/^tollgate_config_reloads_total\{result="failure"\} (\d+)$/m.exec(body)?.[1])
  t.equal(counted, tollgate.logs().filter((l) => l.msg === REJECTED).length, `each rejection logged (${counted})`)
  t.ok(counted >= 5 && counted <= 7, 'once per bad file, or twice when the watch read it first')
})
