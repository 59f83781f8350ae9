import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { Client } from 'undici'
import { startTollgate } from '../helpers/child'
import { get } from '../helpers/http'
import { startUpstream } from '../helpers/upstream'
import { DELAY_OVER, drainConfig, hasExited, later, READY_TIMEOUT_MS, SHUTTING_DOWN, untilRefused } from './fixtures/kit'

/*
 * SIGTERM and SIGINT start the drain (README, "Shutting down"): readiness 503 at once,
 * liveness still 200, new requests still served through drain_delay (with
 * `connection: close`), then the proxy port refuses new connections. The real CLI in
 * a child process, real signals, real sockets.
 */

// Each case is its own child; two at a time keeps the file well under a minute.
t.jobs = 2

const DRAIN = { drainDelay: '2s', grace: '3s' }
const DRAIN_DELAY_MS = 2000
// Generous for a loaded machine; the point is "long before drain_delay ends", which
// the ordering assertion below pins independently of the clock.
const READY_503_WITHIN_MS = 1000

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  t.test(`${signal}: readiness 503 at once, live 200, served through drain_delay, then refused`, async (t) => {
    const upstream = await startUpstream(t)
    const tg = await startTollgate(t, { configYaml: drainConfig(upstream.url, DRAIN), readyTimeoutMs: READY_TIMEOUT_MS })
    t.equal((await get(`${tg.adminUrl}/health/ready`)).status, 200, 'ready before the signal')

    // Keeps the process alive past drain_delay, so a refused connection shows the
    // listener closed while tollgate still runs, not a process that has gone.
    const holder = new Client(tg.proxyUrl)
    t.teardown(async () => { await holder.destroy() })
    let heldDone = false
    const held = later(get(`${tg.proxyUrl}/slow/3500`, {}, { dispatcher: holder }).finally(() => { heldDone = true }))
    while (!upstream.requests.some((r) => r.url === '/slow/3500')) await sleep(10)

    const signalled = Date.now()
    tg.signal(signal)
    let firstReady = await get(`${tg.adminUrl}/health/ready`)
    while (firstReady.status === 200 && Date.now() - signalled < DRAIN_DELAY_MS) {
      await sleep(10)
      firstReady = await get(`${tg.adminUrl}/health/ready`)
    }
    const readyAfter = Date.now() - signalled
    t.equal(firstReady.status, 503, 'readiness fails')
    t.same(firstReady.json(), { status: 'fail', failing: ['shutdown'] })
    t.ok(readyAfter < READY_503_WITHIN_MS, `503 ${readyAfter} ms after the signal`)
    t.notOk(tg.logs().some(DELAY_OVER), '503 came while drain_delay still runs, not when the listener closed')
    t.comment(`${signal}: readiness 503 after ${readyAfter} ms`)

    const live = await get(`${tg.adminUrl}/health/live`)
    t.equal(live.status, 200, 'live during the drain')

    // A fresh connection (undici's pool would reuse a socket): the port still accepts.
    const fresh = new Client(tg.proxyUrl)
    t.teardown(async () => { await fresh.destroy() })
    const during = await get(`${tg.proxyUrl}/status/200`, {}, { dispatcher: fresh })
    t.notOk(tg.logs().some(DELAY_OVER), 'answered before drain_delay was over')
    t.equal(during.status, 200, 'a new request during drain_delay is served')
    t.same(during.json(), { status: 200 })
    t.equal(during.headers.connection, 'close', 'and told the connection closes')
    t.equal((await get(`${tg.adminUrl}/health/ready`)).status, 503, 'still not ready')

    await tg.waitForLog(DELAY_OVER, DRAIN_DELAY_MS + 5000)
    const outcomes = await untilRefused(tg.proxyUrl)
    t.equal(outcomes.at(-1), 'ECONNREFUSED', `after drain_delay a new connection is refused (${outcomes.join(', ')})`)
    t.notOk(heldDone, 'while the request in flight is still being served')
    t.notOk(await hasExited(tg), 'by a tollgate that still runs')

    const finished = await held
    t.equal(finished.status, 200, 'the request in flight finishes')
    t.same(finished.json(), { slow: 3500 })
    t.same(await tg.exited, { code: 0, signal: null }, 'exit 0')
    t.match(tg.logs().find(SHUTTING_DOWN), { signal }, 'the drain logged its start, naming the signal')
  })
}
