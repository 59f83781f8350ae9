import { Agent, request, type IncomingMessage } from 'node:http'
import type { Socket } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { startTollgate } from '../helpers/child'
import { startUpstream } from '../helpers/upstream'
import { DELAY_OVER, drainConfig, hasExited, later, READY_TIMEOUT_MS, SHUTTING_DOWN, STOPPED } from './fixtures/kit'

/*
 * Keep-alive clients during the drain: an idle kept-alive connection is closed by the
 * server (it would otherwise hold the drain until the keep-alive timeout, 72 s in
 * Fastify), and a busy one finishes its response, told `connection: close`. node:http
 * clients with keep-alive agents, so nothing on the client side ever closes a socket.
 */

interface Answer { readonly response: IncomingMessage, readonly body: string, readonly socket: Socket }

/** One GET on `agent`; resolves with the whole body and the socket it came on. */
async function fetchOn (agent: Agent, url: string, onSocket: (socket: Socket) => void = () => {}): Promise<Answer> {
  return await new Promise((resolve, reject) => {
    const req = request(url, { agent }, (response) => {
      let body = ''
      response.setEncoding('utf8')
      response.on('data', (chunk: string) => { body += chunk })
      response.once('end', () => resolve({ response, body, socket: req.socket as Socket }))
      response.once('error', reject)
    })
    req.once('error', reject)
    req.once('socket', onSocket)
    req.end()
  })
}

/** When the socket's peer closed it (`end`), and when it was gone (`close`). */
function watchClose (socket: Socket): { ended: () => number | undefined, closed: Promise<number> } {
  let endedAt: number | undefined
  socket.once('end', () => { endedAt = Date.now() })
  return {
    ended: () => endedAt,
    closed: new Promise((resolve) => socket.once('close', () => resolve(Date.now())))
  }
}

t.test('an idle keep-alive connection is closed by the server; a busy one finishes with connection: close', async (t) => {
  const upstream = await startUpstream(t)
  const tg = await startTollgate(t, {
    configYaml: drainConfig(upstream.url, { drainDelay: '2s', grace: '5s' }),
    readyTimeoutMs: READY_TIMEOUT_MS
  })
  // One agent per connection: each holds its socket and never closes it (no timeout set).
  const idleAgent = new Agent({ keepAlive: true, maxSockets: 1 })
  const busyAgent = new Agent({ keepAlive: true, maxSockets: 1 })
  t.teardown(() => { idleAgent.destroy(); busyAgent.destroy() })

  const first = await fetchOn(idleAgent, `${tg.proxyUrl}/status/200`)
  t.equal(first.response.headers.connection, 'keep-alive', 'the idle connection was kept alive')
  const idle = watchClose(first.socket)

  let busyDoneAt = 0
  let busyClosed: Promise<number> | undefined
  const busy = later(fetchOn(busyAgent, `${tg.proxyUrl}/slow/3500`, (socket) => { busyClosed = watchClose(socket).closed }).then((answer) => {
    busyDoneAt = Date.now()
    return answer
  }))
  while (!upstream.requests.some((r) => r.url === '/slow/3500')) await sleep(10)

  tg.signal('SIGTERM')
  await tg.waitForLog(SHUTTING_DOWN)
  await sleep(500)
  t.equal(idle.ended(), undefined, 'half a second into the 2 s drain_delay, the idle connection is still open')
  const idleClosedAt = await Promise.race([idle.closed, sleep(10_000).then(() => 0)])
  t.ok(idleClosedAt > 0, 'the idle connection was closed')
  t.ok(idle.ended() !== undefined, 'by the server: the client got its FIN (end) and never closed it')
  t.notOk(await hasExited(tg), 'while tollgate still runs')
  t.equal(busyDoneAt, 0, 'and before the busy response was done: the drain closed it, not the exit')
  await tg.waitForLog(DELAY_OVER)

  const answer = await busy
  t.equal(answer.response.statusCode, 200, 'the busy connection finishes its response')
  t.equal(answer.body, JSON.stringify({ slow: 3500 }), 'whole')
  t.equal(answer.response.headers.connection, 'close', 'told that the connection closes')
  // The agent would keep a socket the server left open; this one is closed for it.
  const busyClosedAt = await Promise.race([busyClosed ?? Promise.resolve(0), sleep(5000).then(() => 0)])
  t.ok(busyClosedAt > 0, 'and its socket is closed after it')

  t.same(await tg.exited, { code: 0, signal: null }, 'exit 0')
  t.match(tg.logs().find(STOPPED), { drained: 1 }, 'the busy request is the one drained')
})
