import t from 'tap'
import { Client } from 'undici'
import { startTollgate } from '../helpers/child'
import { get } from '../helpers/http'
import { startUpstream } from '../helpers/upstream'
import { DELAY_OVER, READY_TIMEOUT_MS, untilRefused } from './fixtures/kit'

/*
 * The decision listener (`listen.decision`) drains like the proxy: after SIGTERM it keeps
 * answering new connections through drain_delay, with `connection: close`, then refuses
 * them. The real CLI in a child process, a real signal.
 */

t.test('SIGTERM: the decision listener answers through drain_delay, then refuses', async (t) => {
  const upstream = await startUpstream(t)
  const tg = await startTollgate(t, {
    configYaml: `listen: { proxy: 127.0.0.1:0, admin: 127.0.0.1:0, decision: 127.0.0.1:0 }
upstream: ${upstream.url}
plans: { anonymous: [ { max: 100000, per: 1s } ] }
shutdown: { drain_delay: 2s, grace: 3s }
`,
    readyTimeoutMs: READY_TIMEOUT_MS
  })
  const listening = await tg.waitForLog((line) => line.msg === 'tollgate listening')
  const decisionUrl = listening.decision
  if (typeof decisionUrl !== 'string') throw new Error(`no decision URL in ${JSON.stringify(listening)}`)
  const ask = async (client: Client): Promise<{ status: number, connection: unknown }> => {
    const res = await get(`${decisionUrl}/v1/authorize`, { 'x-original-method': 'GET', 'x-original-uri': '/orders' }, { dispatcher: client })
    return { status: res.status, connection: res.headers.connection }
  }
  const before = new Client(decisionUrl)
  t.teardown(async () => { await before.destroy() })
  t.equal((await ask(before)).status, 200, 'a decision before the signal')

  // A request in flight on the proxy keeps tollgate running past drain_delay, so a
  // refused decision connection shows the listener closed, not a process that has gone.
  const holder = new Client(tg.proxyUrl)
  t.teardown(async () => { await holder.destroy() })
  const held = get(`${tg.proxyUrl}/slow/3500`, {}, { dispatcher: holder })
  while (!upstream.requests.some((r) => r.url === '/slow/3500')) await new Promise((resolve) => setTimeout(resolve, 10))

  tg.signal('SIGTERM')
  await tg.waitForLog((line) => typeof line.msg === 'string' && line.msg.startsWith('shutting down'))
  const fresh = new Client(decisionUrl)
  t.teardown(async () => { await fresh.destroy() })
  const during = await ask(fresh)
  t.notOk(tg.logs().some(DELAY_OVER), 'asked before drain_delay was over')
  t.same(during, { status: 200, connection: 'close' }, 'a new connection during drain_delay is answered, and told it closes')

  await tg.waitForLog(DELAY_OVER, 7000)
  const outcomes = await untilRefused(decisionUrl)
  t.equal(outcomes.at(-1), 'ECONNREFUSED', `after drain_delay it refuses new connections (${outcomes.join(', ')})`)
  t.equal(tg.logs().filter((line) => line.msg === 'tollgate stopped: drained').length, 0, 'while tollgate still runs')
  t.equal((await held).status, 200, 'the proxy request in flight finishes')
  t.same(await tg.exited, { code: 0, signal: null }, 'exit 0')
})
