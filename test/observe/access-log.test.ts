import t from 'tap'
import { inProcess, type InProcess } from '../helpers/app'
import { deadPort, startUpstream } from '../helpers/upstream'

/*
 * `access_log`: every line, none, or a share of them, with a 5xx always logged. The
 * proxy in this process on real sockets, its log lines captured.
 */

const PLANS = 'plans:\n  anonymous: [ { max: 100000, per: 1s } ]\n'

const requestLines = (app: InProcess): number => app.logs.filter((line) => line.msg === 'request').length

async function send (app: InProcess, count: number, path = '/x'): Promise<void> {
  for (let i = 0; i < count; i++) await (await fetch(`${app.proxyUrl}${path}`)).text()
}

t.test('true: one line per request (the default)', async (t) => {
  const upstream = await startUpstream(t)
  const app = await inProcess(t, `upstream: ${upstream.url}\n${PLANS}`)
  await send(app, 20)
  t.equal(requestLines(app), 20)
})

t.test('false, or 0: no line for an answered request', async (t) => {
  const upstream = await startUpstream(t)
  for (const setting of ['false', '0']) {
    const app = await inProcess(t, `upstream: ${upstream.url}\naccess_log: ${setting}\n${PLANS}`)
    await send(app, 20)
    t.equal(requestLines(app), 0, `access_log: ${setting}`)
  }
})

t.test('a share: about that share of the lines', async (t) => {
  const upstream = await startUpstream(t)
  const app = await inProcess(t, `upstream: ${upstream.url}\naccess_log: 0.5\n${PLANS}`)
  await send(app, 400)
  const logged = requestLines(app)
  // Binomial(400, 0.5): 200 ± 10; the band is eight standard deviations wide.
  t.ok(logged > 120 && logged < 280, `${logged} of 400 logged`)
})

t.test('a 5xx is logged whatever the setting', async (t) => {
  const app = await inProcess(t, `upstream: http://127.0.0.1:${await deadPort()}\naccess_log: false\n${PLANS}`)
  await send(app, 5)
  t.equal(requestLines(app), 5, 'every 502 has its line')
  t.match(app.logs.find((line) => line.msg === 'request'), { status: 502 })
})
