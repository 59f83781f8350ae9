import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { Client } from 'undici'
import { startTollgate } from '../helpers/child'
import { get } from '../helpers/http'
import { startUpstream } from '../helpers/upstream'
import { DELAY_OVER, drainConfig, hasExited, READY_TIMEOUT_MS, SHUTTING_DOWN, STOPPED } from './fixtures/kit'

/*
 * SIGHUP reloads the config; it is not a shutdown signal (close-with-grace would treat
 * it as one unless told to skip it). The real CLI in a child process, a real SIGHUP.
 */

t.test('SIGHUP reloads and the process keeps serving past drain_delay; SIGTERM still drains after it', async (t) => {
  const upstream = await startUpstream(t)
  // debug: an unchanged file's reload is logged at debug, and that line is the proof the SIGHUP arrived.
  const tg = await startTollgate(t, {
    configYaml: drainConfig(upstream.url, { drainDelay: '1s', grace: '3s', extra: 'log_level: debug' }),
    readyTimeoutMs: READY_TIMEOUT_MS
  })

  tg.signal('SIGHUP')
  const reloaded = await tg.waitForLog((l) => l.trigger === 'SIGHUP' && typeof l.msg === 'string' && l.msg.startsWith('config '))
  t.equal(reloaded.msg, 'config unchanged', 'SIGHUP re-read the config')
  t.equal((await get(`${tg.adminUrl}/health/ready`)).status, 200, 'still ready right after it')

  // Were SIGHUP a shutdown, the proxy port would have closed after the 1 s drain_delay.
  await sleep(1500)
  const fresh = new Client(tg.proxyUrl)
  t.teardown(async () => { await fresh.destroy() })
  const served = await get(`${tg.proxyUrl}/status/200`, {}, { dispatcher: fresh })
  t.equal(served.status, 200, 'a new connection is served 1.5 s later')
  t.equal(served.headers.connection, 'keep-alive', 'without `connection: close`')
  t.equal((await get(`${tg.adminUrl}/health/ready`)).status, 200, 'still ready')
  t.notOk(tg.logs().some(SHUTTING_DOWN), 'no drain started')
  t.notOk(await hasExited(tg), 'still running')

  tg.signal('SIGTERM')
  await tg.waitForLog(DELAY_OVER, 10_000)
  t.same(await tg.exited, { code: 0, signal: null }, 'SIGTERM after a SIGHUP still drains and exits 0')
  t.match(tg.logs().find(STOPPED), { drained: 0 }, 'nothing was in flight')
})
