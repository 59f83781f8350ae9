import type { IncomingHttpHeaders } from 'node:http'
import t from 'tap'
import type { Test } from 'tap'
import { startTollgate } from '../helpers/child'
import { get, send } from '../helpers/http'
import { deadPort, startUpstream } from '../helpers/upstream'
import { alive, assertRateLimitHeaders, configYaml, KEY } from './forward-kit'

// Forwarding that fails: no upstream listening, a reset, a timeout, no upstream at all.

t.test('upstream failures become small JSON errors', async (t) => {
  const up = await startUpstream(t, {
    handle: (req) => {
      if (req.url !== '/reset') return false
      req.socket.destroy()
      return true
    }
  })
  // One at a time: a child's start is CPU-bound (it compiles the TypeScript).
  const down = await startTollgate(t, { configYaml: configYaml(`http://127.0.0.1:${await deadPort()}`) })
  const slow = await startTollgate(t, { configYaml: configYaml(`{ url: "${up.url}", timeout: 500ms }`) })
  const none = await startTollgate(t, { configYaml: configYaml(undefined) })

  const assertError = (t: Test, res: { status: number, headers: IncomingHttpHeaders, json(): unknown }, status: number, error: string, limited = true): void => {
    t.equal(res.status, status)
    t.equal(res.headers['content-type'], 'application/json; charset=utf-8')
    t.same(Object.keys(res.json() as object).sort(), ['error', 'message'], 'a small body: error and message, no stack')
    t.match(res.json(), { error, message: /\w/ })
    if (limited) assertRateLimitHeaders(t, res.headers)
  }

  t.test('nothing listening on the upstream port → 502 upstream_unavailable', async (t) => {
    assertError(t, await get(`${down.proxyUrl}/anything`, KEY), 502, 'upstream_unavailable')
    assertError(t, await send('POST', `${down.proxyUrl}/upload`, { ...KEY, 'content-type': 'text/plain' }, 'x'.repeat(200_000)), 502, 'upstream_unavailable')
  })

  t.test('the app resets the connection → 502 upstream_unavailable', async (t) => {
    assertError(t, await get(`${slow.proxyUrl}/reset`, KEY), 502, 'upstream_unavailable')
    const next = await get(`${slow.proxyUrl}/after-reset`, KEY)
    t.equal(next.status, 200, 'the next request gets a fresh connection')
  })

  t.test('no response headers within upstream.timeout → 504 upstream_timeout, promptly', async (t) => {
    const started = Date.now()
    const res = await get(`${slow.proxyUrl}/slow/3000`, KEY)
    const elapsed = Date.now() - started
    assertError(t, res, 504, 'upstream_timeout')
    t.ok(elapsed >= 450, `not before the 500 ms timeout (${elapsed} ms)`)
    t.ok(elapsed < 2000, `well before the app's 3 s (${elapsed} ms)`)

    const quick = await get(`${slow.proxyUrl}/slow/50`, KEY)
    t.equal(quick.status, 200, 'an app within the timeout is answered as usual')
    t.same(quick.json(), { slow: 50 })
  })

  t.test('no upstream configured: the proxy port is the decision API, and forwards nothing → 404 not_found', async (t) => {
    assertError(t, await get(`${none.proxyUrl}/anything`, KEY), 404, 'not_found', false)
    assertError(t, await send('POST', `${none.proxyUrl}/upload`, { ...KEY, 'content-type': 'text/plain' }, 'x'.repeat(200_000)), 404, 'not_found', false)
  })

  t.test('tollgate still runs after every failure', async (t) => {
    for (const tg of [down, slow, none]) t.ok(alive(tg.pid), `pid ${tg.pid}`)
  })
})
