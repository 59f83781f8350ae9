import t from 'tap'
import { startTollgate } from '../helpers/child'
import { startUpstream, type EchoBody } from '../helpers/upstream'
import { nodeRequest } from './forward-client'
import { configYaml, KEY } from './forward-kit'

// Forwarding to an upstream URL with a path, behind a trust_proxy list.

t.test('an upstream with a base path, and a trust_proxy list', async (t) => {
  const up = await startUpstream(t)
  const tg = await startTollgate(t, { configYaml: configYaml(`${up.url}/base`, ['trust_proxy: [ 127.0.0.2 ]']) })

  t.test('the base path prefixes every path; the query stays as it was', async (t) => {
    const targets: Array<[string, string]> = [['/', '/base/'], ['/x/y?z=1&z=2', '/base/x/y?z=1&z=2'], ['/q?', '/base/q?']]
    for (const [target, expected] of targets) {
      const res = await nodeRequest(tg.proxyUrl, target, { headers: KEY })
      t.equal(res.status, 200, target)
      t.equal((res.json() as EchoBody).url, expected)
    }
  })

  const forwarded = { ...KEY, 'x-forwarded-for': '198.51.100.7', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'app.example' }

  t.test('a trusted proxy\'s x-forwarded-proto/host are kept', async (t) => {
    const res = await nodeRequest(tg.proxyUrl, '/fwd', { headers: forwarded, localAddress: '127.0.0.2' })
    t.match(res.json(), { headers: { 'x-forwarded-for': '198.51.100.7, 127.0.0.2', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'app.example' } })
  })

  // Regression: any `trust_proxy` list made every client trusted for proto and host,
  // whatever its address.
  t.test('a client outside the list cannot set x-forwarded-proto/host', async (t) => {
    const res = await nodeRequest(tg.proxyUrl, '/fwd', { headers: forwarded })
    t.match(res.json(), { headers: { 'x-forwarded-for': '198.51.100.7, 127.0.0.1', 'x-forwarded-proto': 'http', 'x-forwarded-host': new URL(tg.proxyUrl).host } })
  })
})
