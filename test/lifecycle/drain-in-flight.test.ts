import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { startTollgate } from '../helpers/child'
import { get, type TextResponse } from '../helpers/http'
import { startUpstream } from '../helpers/upstream'
import { DELAY_OVER, drainConfig, later, READY_TIMEOUT_MS, STOPPED, untilRefused } from './fixtures/kit'

/*
 * The drain's main promise: what is in flight at SIGTERM finishes, whole, and is
 * counted. The real CLI in a child process, 20 real requests to a slow upstream.
 */

const IN_FLIGHT = 20
const SLOW_MS = 2000

t.test(`${IN_FLIGHT} requests in flight at SIGTERM all finish with their bodies; the summary counts exactly them`, async (t) => {
  const upstream = await startUpstream(t)
  const tg = await startTollgate(t, {
    configYaml: drainConfig(upstream.url, { drainDelay: '1s', grace: '3s' }),
    readyTimeoutMs: READY_TIMEOUT_MS
  })

  // Nothing else goes to the proxy port in this test: the summary's count is these and
  // only these (the readiness polls go to the admin port, the refused connect never
  // becomes a request).
  const arrived: number[] = []
  const requests = Array.from({ length: IN_FLIGHT }, async () => {
    const response = await get(`${tg.proxyUrl}/slow/${SLOW_MS}`)
    arrived.push(Date.now())
    return response
  })
  const all = later(Promise.all(requests))
  // The upstream also sees tollgate's health probes (/status/200).
  const reached = (): number => upstream.requests.filter((r) => r.url === `/slow/${SLOW_MS}`).length
  const started = Date.now()
  while (reached() < IN_FLIGHT && Date.now() - started < 10_000) await sleep(10)
  t.equal(reached(), IN_FLIGHT, 'all of them reached the upstream before the signal')
  await sleep(100)

  const signalled = Date.now()
  tg.signal('SIGTERM')

  // Readiness through the drain, until the last response is in.
  const readiness: number[] = []
  let done = false
  const polling = (async () => {
    while (!done) {
      // 0: no answer, which only the admin listener closing at the very end may cause.
      readiness.push(await get(`${tg.adminUrl}/health/ready`).then((r) => r.status, () => 0))
      await sleep(50)
    }
  })()

  await tg.waitForLog(DELAY_OVER, 10_000)
  const outcomes = await untilRefused(tg.proxyUrl)
  t.equal(outcomes.at(-1), 'ECONNREFUSED', `once the listener closed, a new connection is refused (${outcomes.join(', ')})`)
  t.ok(arrived.length < IN_FLIGHT, `refused while ${IN_FLIGHT - arrived.length} request(s) were still in flight`)

  const responses: TextResponse[] = await all
  done = true
  await polling
  const failing = readiness.slice(readiness.indexOf(503))
  t.ok(readiness.includes(503), 'readiness failed')
  t.ok(failing.slice(0, -1).every((s) => s === 503), `and stayed 503 through the drain (${readiness.join(' ')})`)
  t.ok(failing.length >= 5, `polled ${failing.length} times while draining`)

  t.same(responses.map((r) => r.status), Array(IN_FLIGHT).fill(200), 'every one answered 200')
  t.same(responses.map((r) => r.body), Array(IN_FLIGHT).fill(JSON.stringify({ slow: SLOW_MS })), 'with its whole body')
  t.same(responses.map((r) => r.headers['content-length']), Array(IN_FLIGHT).fill(String(JSON.stringify({ slow: SLOW_MS }).length)))
  t.same(responses.map((r) => r.headers.connection), Array(IN_FLIGHT).fill('close'), 'each response says the connection closes')
  t.ok(Math.min(...arrived) > signalled, 'all finished after the signal')

  t.same(await tg.exited, { code: 0, signal: null }, 'exit 0')
  const summary = tg.logs().find(STOPPED)
  t.ok(summary, 'the summary line is logged')
  t.equal(summary?.drained, IN_FLIGHT, `drained: exactly the ${IN_FLIGHT} in flight`)
})
