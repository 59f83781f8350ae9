import { createServer, type Server } from 'node:net'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { probeUpstream } from '../../src/proxy/probe'
import { deadPort, startUpstream } from '../helpers/upstream'

/*
 * The upstream probe behind `upstream:responseTime` and `tollgate_upstream_up`,
 * against a real HTTP server and real sockets.
 */

t.test('HTTP check: 2xx and 3xx are up, 4xx and 5xx are down', async (t) => {
  const upstream = await startUpstream(t)
  for (const [code, ok] of [[200, true], [204, true], [302, true], [404, false], [503, false]] as const) {
    const result = await probeUpstream(upstream.url, `/status/${code}`, 2000)
    t.same(result, { ok, detail: `GET /status/${code} → ${code}` }, String(code))
  }
  t.same(upstream.requests.map((r) => `${r.method} ${r.url}`), ['/status/200', '/status/204', '/status/302', '/status/404', '/status/503'].map((p) => `GET ${p}`))
})

t.test('HTTP check: an app that never answers is down after the timeout', async (t) => {
  const upstream = await startUpstream(t, { handle: (req) => req.url === '/hang' })
  const started = Date.now()
  const result = await probeUpstream(upstream.url, '/hang', 200)
  const elapsed = Date.now() - started
  t.equal(result.ok, false)
  t.match(result.detail, /^GET \/hang: /)
  t.ok(elapsed >= 180 && elapsed < 1500, `gave up after ${elapsed} ms`)
})

t.test('HTTP check: a refused connection is down, at once', async (t) => {
  const started = Date.now()
  const result = await probeUpstream(`http://127.0.0.1:${await deadPort()}`, '/healthz', 5000)
  t.equal(result.ok, false)
  t.match(result.detail, /^GET \/healthz: /)
  t.ok(Date.now() - started < 4000, 'not waiting for the timeout')
})

// Regression: the path was resolved with `new URL(path, origin)`, which reads
// `//name/x` as a URL of host `name`: the probe left the upstream.
t.test('HTTP check: a path starting with // stays on the upstream', async (t) => {
  const upstream = await startUpstream(t)
  const result = await probeUpstream(upstream.url, '//status/x', 2000)
  t.same(result, { ok: true, detail: 'GET //status/x → 200' })
  t.same(upstream.requests.map((r) => r.url), ['//status/x'])
})

t.test('TCP check: a listening port is up, a closed one down, and no HTTP request is sent', async (t) => {
  const upstream = await startUpstream(t)
  t.same(await probeUpstream(upstream.url, undefined, 2000), { ok: true, detail: `tcp 127.0.0.1:${upstream.port} connected` })
  await new Promise((resolve) => setTimeout(resolve, 50))
  t.equal(upstream.requests.length, 0, 'a connect only')
  const dead = await deadPort()
  const down = await probeUpstream(`http://127.0.0.1:${dead}`, undefined, 2000)
  t.equal(down.ok, false)
  t.match(down.detail, `tcp 127.0.0.1:${dead}: connect ECONNREFUSED`)
})

// Regression: `URL.hostname` is `[::1]` with its brackets, which `net.connect` cannot
// resolve, so an IPv6 upstream was always down under the TCP check.
t.test('TCP check: an IPv6 literal upstream', async (t) => {
  const server: Server = createServer((socket) => socket.destroy())
  const listening = await new Promise<boolean>((resolve) => {
    server.once('error', () => resolve(false))
    server.listen(0, '::1', () => resolve(true))
  })
  if (!listening) {
    t.comment('no IPv6 loopback here: nothing to test')
    return
  }
  t.teardown(() => server.close())
  const { port } = server.address() as AddressInfo
  t.same(await probeUpstream(`http://[::1]:${port}`, undefined, 2000), { ok: true, detail: `tcp [::1]:${port} connected` })
})
