import { Readable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { startTollgate } from '../helpers/child'
import { pseudoRandomSha256, pseudoRandomStream } from '../helpers/bytes'
import { post } from '../helpers/http'
import { startUpstream, type EchoBody } from '../helpers/upstream'
import { DELAY_OVER, drainConfig, later, READY_TIMEOUT_MS, STOPPED } from './fixtures/kit'

/*
 * An upload still streaming in at SIGTERM reaches the upstream whole: the drain waits
 * for the request, not just for its response to start. The real CLI in a child
 * process, 20 MB through a real socket, slowed so it is mid-body when the signal lands.
 */

const TOTAL = 20 * 1024 * 1024
// 320 chunks of 64 KiB, one every 8 ms at best: ~2.6 s on an idle machine.
const PAUSE_MS = 8
const SIGNAL_AFTER = 2 * 1024 * 1024

t.test('a 20 MB upload in flight at SIGTERM reaches the upstream intact', async (t) => {
  const upstream = await startUpstream(t)
  // A long grace: the upload's own pace must decide when it ends, never the deadline.
  const tg = await startTollgate(t, {
    configYaml: drainConfig(upstream.url, { drainDelay: '1s', grace: '10s' }),
    readyTimeoutMs: READY_TIMEOUT_MS
  })

  let sent = 0
  const body = Readable.from((async function * () {
    for await (const chunk of pseudoRandomStream(TOTAL) as AsyncIterable<Buffer>) {
      await sleep(PAUSE_MS)
      sent += chunk.length
      yield chunk
    }
  })(), { objectMode: false })
  const upload = later(post(`${tg.proxyUrl}/upload`, body, { 'content-type': 'application/octet-stream', 'content-length': String(TOTAL) }))

  while (sent < SIGNAL_AFTER || !upstream.requests.some((r) => r.url === '/upload')) await sleep(5)
  const sentAtSignal = sent
  tg.signal('SIGTERM')
  t.ok(sentAtSignal < TOTAL / 2, `the signal landed mid-body: ${(sentAtSignal / 1024 / 1024).toFixed(1)} of 20 MB sent`)

  const response = await upload
  t.equal(response.status, 200, 'the upload is answered')
  const echo = response.json() as EchoBody
  t.equal(echo.bodyBytes, TOTAL, 'the upstream got every byte')
  t.equal(echo.bodySha256, pseudoRandomSha256(TOTAL), 'and the same bytes (sha256)')
  t.equal(response.headers.connection, 'close', 'the answer says the connection closes')
  t.ok(tg.logs().some(DELAY_OVER), 'it was still streaming when the proxy listener closed')

  t.same(await tg.exited, { code: 0, signal: null }, 'exit 0')
  t.match(tg.logs().find(STOPPED), { drained: 1 }, 'the upload is the one request drained')
})
