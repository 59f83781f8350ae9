import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { Client } from 'undici'
import { startTollgate } from '../helpers/child'
import { get } from '../helpers/http'
import { startUpstream } from '../helpers/upstream'
import { drainConfig, msgStarts, READY_TIMEOUT_MS, SHUTTING_DOWN, STOPPED } from './fixtures/kit'

/*
 * A second signal during the drain forces the deadline at once: every proxy connection
 * is cut and the exit code is 1, long before drain_delay + grace. The real CLI in a
 * child process, two real SIGTERMs.
 */

t.test('a second SIGTERM during the drain cuts everything and exits 1 at once', async (t) => {
  const upstream = await startUpstream(t)
  // Deadline 11 s after the first signal: an exit within a few seconds can only be the second's.
  const tg = await startTollgate(t, {
    configYaml: drainConfig(upstream.url, { drainDelay: '1s', grace: '10s' }),
    readyTimeoutMs: READY_TIMEOUT_MS
  })
  const client = new Client(tg.proxyUrl)
  t.teardown(async () => { await client.destroy() })
  const outcome = get(`${tg.proxyUrl}/slow/10000`, {}, { dispatcher: client }).then(
    (r) => `answered ${r.status}`,
    (err: Error & { code?: string }) => `${err.name}: ${err.message} (${String(err.code)})`
  )
  while (!upstream.requests.some((r) => r.url === '/slow/10000')) await sleep(10)

  tg.signal('SIGTERM')
  await tg.waitForLog(SHUTTING_DOWN)
  const second = Date.now()
  tg.signal('SIGTERM')
  const exit = await tg.exited
  const exitedAfter = Date.now() - second
  t.same(exit, { code: 1, signal: null }, 'exit 1')
  t.ok(exitedAfter < 3000, `exited ${exitedAfter} ms after the second signal (the deadline was 11 s away)`)

  const result = await outcome
  t.match(result, /other side closed|socket|ECONNRESET/i, `the request in flight was cut: ${result}`)
  const line = tg.logs().find(msgStarts('second signal: cutting every connection and exiting'))
  t.ok(line, 'the second signal is logged, even though the process exits right after')
  t.match(line, { level: 50, signal: 'SIGTERM', cut: 1 }, 'naming the signal and the one connection cut')
  t.notOk(tg.logs().some(STOPPED), 'no "drained" summary')
})
