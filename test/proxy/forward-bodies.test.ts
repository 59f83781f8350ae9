import { execFile } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import type { Tollgate } from '../helpers/child'
import { rawRequest } from '../helpers/http'
import type { EchoBody } from '../helpers/upstream'
import { pseudoRandomSha256, pseudoRandomStream } from '../helpers/bytes'
import { nodeRequest } from './forward-client'
import { assertRateLimitHeaders, bufferOf, HAS_CURL, KEY, MB, sha256, sha256OfStream, startForwarding } from './forward-kit'

// Forwarding, big bodies: 10 MB each way, expect: 100-continue, and curl's uploads
// (forward-kit.ts starts the processes).

let tg: Tollgate
t.before(async () => { ({ tg } = await startForwarding(t)) })

const size = 10 * MB

t.test('a 10 MB upload arrives intact, chunked or with a length', async (t) => {
  const chunked = await rawRequest(`${tg.proxyUrl}/upload`, {
    method: 'POST',
    headers: { ...KEY, 'content-type': 'application/octet-stream' },
    body: pseudoRandomStream(size)
  })
  t.equal(chunked.statusCode, 200)
  t.match(await chunked.body.json(), { bodyBytes: size, bodySha256: pseudoRandomSha256(size), headers: { 'transfer-encoding': 'chunked' } })

  const sized = await rawRequest(`${tg.proxyUrl}/upload`, {
    method: 'PUT',
    headers: { ...KEY, 'content-type': 'application/octet-stream', 'content-length': String(size) },
    body: pseudoRandomStream(size)
  })
  t.equal(sized.statusCode, 200)
  t.match(await sized.body.json(), { method: 'PUT', bodyBytes: size, bodySha256: pseudoRandomSha256(size), headers: { 'content-length': String(size) } })
})

t.test('a 10 MB response arrives intact', async (t) => {
  const res = await rawRequest(`${tg.proxyUrl}/bytes/${size}`, { headers: KEY })
  t.equal(res.statusCode, 200)
  t.equal(res.headers['content-length'], String(size))
  t.equal(res.headers['x-sha256'], pseudoRandomSha256(size))
  assertRateLimitHeaders(t, res.headers)
  t.same(await sha256OfStream(res.body), { bytes: size, sha256: pseudoRandomSha256(size) })
})

t.test('expect: 100-continue uploads get their 100 and arrive intact', async (t) => {
  const body = await bufferOf(pseudoRandomStream(2 * MB))
  const res = await nodeRequest(tg.proxyUrl, '/continue', {
    method: 'POST',
    headers: { ...KEY, expect: '100-continue', 'content-type': 'application/octet-stream', 'content-length': body.length },
    body
  })
  t.ok(res.sawContinue, 'tollgate answered 100 Continue')
  t.equal(res.status, 200)
  const echo = res.json() as EchoBody
  t.equal(echo.headers.expect, undefined, 'expect is hop-by-hop: undici refuses it, the app never sees it')
  t.equal(echo.bodyBytes, body.length)
  t.equal(echo.bodySha256, sha256(body))
})

t.test('curl uploads over 1 MB (it sends expect: 100-continue by itself)', { skip: HAS_CURL ? false : 'curl is not installed' }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tollgate-forward-'))
  t.teardown(async () => await rm(dir, { recursive: true, force: true }))
  const file = join(dir, 'upload.bin')
  writeFileSync(file, await bufferOf(pseudoRandomStream(3 * MB)))
  const { stdout, stderr } = await promisify(execFile)('curl', [
    '--silent', '--show-error', '--verbose', '--max-time', '10',
    '-H', 'x-api-key: acme-key', '-H', 'content-type: application/octet-stream',
    '--data-binary', `@${file}`, `${tg.proxyUrl}/curl-upload`
  ], { maxBuffer: 10 * MB })
  t.match(stderr, /> Expect: 100-continue/i, 'curl asked for 100-continue')
  t.match(stderr, /< HTTP\/1\.1 100 Continue/, 'and got it')
  t.match(stderr, /< HTTP\/1\.1 200 OK/)
  t.match(JSON.parse(stdout), { method: 'POST', url: '/curl-upload', bodyBytes: 3 * MB, bodySha256: pseudoRandomSha256(3 * MB) })
})
