import t from 'tap'
import { Client } from 'undici'
import { startTollgate } from '../helpers/child'
import { get } from '../helpers/http'
import { startUpstream } from '../helpers/upstream'
import { drainConfig, READY_TIMEOUT_MS, SHUTTING_DOWN, STOPPED } from './fixtures/kit'

/*
 * Ctrl-C at a terminal, or a SIGINT to a tollgate no client is connected to, does not
 * wait out drain_delay; SIGTERM always does, since load balancers may still route new
 * connections there. The real CLI in a child process, real signals, a real pty.
 */

t.jobs = 2

const DRAIN = { drainDelay: '5s', grace: '3s' }
const DRAIN_DELAY_MS = 5000
/** Far below drain_delay, far above a loaded machine's exit. */
const AT_ONCE_MS = 2500

t.test('SIGINT with no connection open: exit 0 at once', async (t) => {
  const upstream = await startUpstream(t)
  const tg = await startTollgate(t, { configYaml: drainConfig(upstream.url, DRAIN), readyTimeoutMs: READY_TIMEOUT_MS })
  const signalled = Date.now()
  tg.signal('SIGINT')
  t.same(await tg.exited, { code: 0, signal: null })
  const after = Date.now() - signalled
  t.ok(after < AT_ONCE_MS, `exited ${after} ms after SIGINT, drain_delay is ${DRAIN_DELAY_MS}`)
  t.equal(tg.logs().find(SHUTTING_DOWN)?.drainDelayMs, 0, 'the log says the delay was skipped')
  t.ok(tg.logs().some(STOPPED), 'still a clean drain')
})

t.test('Ctrl-C at a terminal: exit 0 at once, even with a keep-alive connection open', async (t) => {
  const upstream = await startUpstream(t)
  const tg = await startTollgate(t, { configYaml: drainConfig(upstream.url, DRAIN), readyTimeoutMs: READY_TIMEOUT_MS, stdinTty: true })
  const client = new Client(tg.proxyUrl)
  t.teardown(async () => { await client.destroy() })
  t.equal((await get(`${tg.proxyUrl}/status/200`, {}, { dispatcher: client })).status, 200, 'a connection is open and idle')
  const signalled = Date.now()
  tg.signal('SIGINT')
  t.same(await tg.exited, { code: 0, signal: null })
  const after = Date.now() - signalled
  t.ok(after < AT_ONCE_MS, `exited ${after} ms after Ctrl-C, drain_delay is ${DRAIN_DELAY_MS}`)
})

t.test('SIGTERM with no connection open still waits the whole drain_delay', async (t) => {
  const upstream = await startUpstream(t)
  const tg = await startTollgate(t, { configYaml: drainConfig(upstream.url, { drainDelay: '2s', grace: '3s' }), readyTimeoutMs: READY_TIMEOUT_MS, stdinTty: true })
  const signalled = Date.now()
  tg.signal('SIGTERM')
  t.same(await tg.exited, { code: 0, signal: null })
  const after = Date.now() - signalled
  t.ok(after >= 2000, `exited ${after} ms after SIGTERM: not before drain_delay (2000 ms), terminal or not`)
  t.equal(tg.logs().find(SHUTTING_DOWN)?.drainDelayMs, 2000)
})
