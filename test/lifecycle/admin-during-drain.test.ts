import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { startTollgate } from '../helpers/child'
import { get } from '../helpers/http'
import { startUpstream } from '../helpers/upstream'
import { DELAY_OVER, drainConfig, later, READY_TIMEOUT_MS, STOPPED } from './fixtures/kit'

/*
 * The admin listener closes last: `/metrics` and `/health/*` answer through the whole
 * drain, after the proxy listener has closed and until its requests in flight are done,
 * so the last scrape sees the drain and the probes never time out. The real CLI in a
 * child process, real requests on both ports.
 */

const IN_FLIGHT = 5
const SLOW_MS = 2500
const POLLED = ['/metrics', '/health/live', '/health/ready'] as const

interface Poll { readonly path: string, readonly status: number, readonly at: number, readonly body: string }

/** The admin listener's own count of `/metrics` requests, from an exposition. */
function scrapeCount (exposition: string): number {
  const line = exposition.split('\n').find((l) => l.startsWith('tollgate_http_requests_total{') &&
    l.includes('listener="admin"') && l.includes('route="/metrics"'))
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1))
}

t.test('during the drain /metrics and /health/* answer until the proxy requests in flight are done', async (t) => {
  const upstream = await startUpstream(t)
  const tg = await startTollgate(t, {
    configYaml: drainConfig(upstream.url, { drainDelay: '1s', grace: '3s' }),
    readyTimeoutMs: READY_TIMEOUT_MS
  })

  let lastArrived = 0
  const inFlight = later(Promise.all(Array.from({ length: IN_FLIGHT }, async () => {
    const response = await get(`${tg.proxyUrl}/slow/${SLOW_MS}`)
    lastArrived = Date.now()
    return response
  })))
  while (upstream.requests.filter((r) => r.url === `/slow/${SLOW_MS}`).length < IN_FLIGHT) await sleep(10)

  tg.signal('SIGTERM')
  const polls: Poll[] = []
  let done = false
  const pollers = POLLED.map(async (path) => {
    while (!done) {
      // status 0: no answer at all.
      const poll = await get(`${tg.adminUrl}${path}`).then(
        (r) => ({ path, status: r.status, at: Date.now(), body: r.body }),
        () => ({ path, status: 0, at: Date.now(), body: '' })
      )
      polls.push(poll)
      await sleep(50)
    }
  })

  const responses = await inFlight
  done = true
  await Promise.all(pollers)
  t.same(responses.map((r) => r.status), Array(IN_FLIGHT).fill(200), 'the requests in flight finished')

  const delayOver = Date.parse(String((await tg.waitForLog(DELAY_OVER)).time))
  // Answered before the last proxy response came back: the admin port must have been up.
  const beforeEnd = polls.filter((p) => p.at <= lastArrived)
  const afterProxyClosed = beforeEnd.filter((p) => p.at > delayOver)
  for (const path of POLLED) {
    const mine = afterProxyClosed.filter((p) => p.path === path)
    t.ok(mine.length >= 3, `${path}: ${mine.length} answers after the proxy listener closed`)
  }
  const statuses = (path: string): number[] => beforeEnd.filter((p) => p.path === path).map((p) => p.status)
  t.ok(statuses('/metrics').every((s) => s === 200), `/metrics 200 every time (${statuses('/metrics').join(' ')})`)
  t.ok(statuses('/health/live').every((s) => s === 200), `/health/live 200 every time (${statuses('/health/live').join(' ')})`)
  const ready = statuses('/health/ready')
  t.ok(ready.slice(ready.indexOf(503)).every((s) => s === 503) && ready.includes(503), `/health/ready answered 503 every time once draining (${ready.join(' ')})`)

  // Live numbers, not a page frozen at the signal: the scrapes count themselves.
  const scrapes = beforeEnd.filter((p) => p.path === '/metrics').map((p) => scrapeCount(p.body))
  t.ok(scrapes.length >= 2 && (scrapes.at(-1) ?? 0) > (scrapes[0] ?? 0), `the scrape counter kept rising through the drain (${scrapes[0]} → ${scrapes.at(-1)})`)

  t.same(await tg.exited, { code: 0, signal: null }, 'exit 0')
  t.match(tg.logs().find(STOPPED), { drained: IN_FLIGHT })
})
