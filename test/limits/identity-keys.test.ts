import { connect } from 'node:net'
import t from 'tap'
import type { Test } from 'tap'
import { inProcess, type InProcess } from '../helpers/app'
import { startUpstream, type Upstream } from '../helpers/upstream'

// The class of "which key did this request present?": every way of sending a
// credential that is not exactly one well-formed key is refused before any lookup and
// never becomes the anonymous plan; the credential tollgate read never reaches the app.

const KEY = 'acme-identity-key-7c1e'
const OTHER = 'beta-identity-key-40ad'

interface Answer { status: number, error?: string, reason?: string, limit?: string }

/** Sends `lines` (header lines) verbatim on a fresh socket: repeats, case, bytes as written. */
async function raw (port: number, path: string, lines: string[]): Promise<Answer> {
  return await new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
    const chunks: Buffer[] = []
    socket.on('data', (chunk: Buffer) => chunks.push(chunk))
    socket.on('error', reject)
    socket.on('end', () => {
      const text = Buffer.concat(chunks).toString('latin1')
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1])
      const limit = /\r\nx-ratelimit-limit: (\S+)/i.exec(text)?.[1]
      const body = text.slice(text.indexOf('\r\n\r\n') + 4)
      let parsed: { error?: string, reason?: string } = {}
      try { parsed = JSON.parse(body) as typeof parsed } catch { /* the app's body */ }
      resolve({ status, error: parsed.error, reason: parsed.reason, limit })
    })
    // write, not end: a half-closed client may lose its answer; `connection: close` ends it.
    socket.write(Buffer.from([`GET ${path} HTTP/1.1`, 'host: x', 'connection: close', ...lines, '', ''].join('\r\n'), 'latin1'))
  })
}

async function setUp (t: Test, extra = ''): Promise<{ upstream: Upstream, tg: InProcess, ask: (path: string, lines: string[]) => Promise<Answer> }> {
  const upstream = await startUpstream(t)
  const tg = await inProcess(t, `upstream: ${upstream.url}
plans:
  anonymous: [ { max: 50, per: 1m } ]
  pro: [ { max: 100, per: 1m } ]
  beta: [ { max: 7, per: 1m } ]
keys:
  - { name: acme, key: ${KEY}, plan: pro }
  - { name: beta, key: ${OTHER}, plan: beta }
${extra}`)
  return { upstream, tg, ask: async (path, lines) => await raw(tg.proxyPort, path, lines) }
}

t.test('a credential that is not exactly one well-formed key is refused, never anonymous', async (t) => {
  const { upstream, ask } = await setUp(t)
  const cases: Array<[string, string[], number, string, RegExp?]> = [
    ['empty Bearer', ['authorization: Bearer'], 401, 'invalid_api_key'],
    ['Bearer and spaces', ['authorization: Bearer    '], 401, 'invalid_api_key'],
    ['empty key header', ['x-api-key: '], 401, 'invalid_api_key'],
    ['two x-api-key lines', [`x-api-key: ${KEY}`, `x-api-key: ${KEY}`], 400, 'malformed_api_key', /x-api-key header was sent more than once/],
    ['two x-api-key lines, names in other case', [`X-API-Key: ${KEY}`, `x-api-KEY: ${OTHER}`], 400, 'malformed_api_key', /more than once/],
    ['two Authorization: Bearer lines', [`authorization: Bearer ${KEY}`, `authorization: Bearer ${OTHER}`], 400, 'malformed_api_key', /Authorization header was sent more than once/],
    ['Basic then Bearer', ['authorization: Basic dXNlcjpwYXNz', `authorization: Bearer ${OTHER}`], 400, 'malformed_api_key', /more than once/],
    ['x-api-key and Bearer, different keys', [`x-api-key: ${KEY}`, `authorization: Bearer ${OTHER}`], 400, 'malformed_api_key', /name different keys/],
    ['a comma in the key header', [`x-api-key: ${KEY},${OTHER}`], 400, 'malformed_api_key', /comma/],
    ['a space inside the Bearer', [`authorization: Bearer ${KEY} ${OTHER}`], 400, 'malformed_api_key', /visible ASCII/],
    ['a non-ASCII byte', [`x-api-key: ${KEY}\u00e9`], 400, 'malformed_api_key', /non-ASCII/],
    ['257 characters', [`x-api-key: ${'k'.repeat(257)}`], 400, 'malformed_api_key', /longer than 256/]
  ]
  for (const [name, lines, status, error, reason] of cases) {
    const answer = await ask('/who', lines)
    t.equal(answer.status, status, `${name}: ${status}`)
    t.equal(answer.error, error, `${name}: ${error}`)
    if (reason !== undefined) t.match(answer.reason, reason, `${name}: the reason says so`)
  }
  t.equal(upstream.requests.length, 0, 'none reached the app')
})

t.test('what is still one key: the same key twice, any case, spaces around, a tab after Bearer', async (t) => {
  const { upstream, ask } = await setUp(t)
  const cases: Array<[string, string[]]> = [
    ['x-api-key and Bearer, same key', [`x-api-key: ${KEY}`, `authorization: Bearer ${KEY}`]],
    ['header name in other case', [`X-Api-Key: ${KEY}`]],
    ['spaces around the value', [`x-api-key:    ${KEY}   `]],
    ['scheme in other case', [`Authorization: BEARER ${KEY}`]],
    ['a tab after the scheme', [`authorization: Bearer\t${KEY}`]]
  ]
  for (const [name, lines] of cases) {
    const answer = await ask('/who', lines)
    t.equal(answer.status, 200, name)
    t.equal(answer.limit, '100', `${name}: acme's plan`)
  }
  t.equal(upstream.requests.length, cases.length)
  const other = await ask('/basic', ['authorization: Basic dXNlcjpwYXNz'])
  t.equal(other.status, 200, 'another scheme is the app\'s: anonymous, and passed on')
  t.equal(other.limit, '50')
  t.equal(upstream.requests.at(-1)?.headers.authorization, 'Basic dXNlcjpwYXNz')
})

t.test('the credential headers tollgate read are not forwarded', async (t) => {
  const { upstream, ask } = await setUp(t, 'routes: [ { match: "/open/*", limit: false } ]')
  await ask('/both', [`x-api-key: ${KEY}`, `authorization: Bearer ${KEY}`, 'x-other: 1'])
  await ask('/open/x', [`X-API-KEY: ${KEY}`, `Authorization: bearer ${KEY}`])
  t.equal(upstream.requests.length, 2)
  for (const request of upstream.requests) {
    const names = request.rawHeaders.filter((_v, i) => i % 2 === 0).map((n) => n.toLowerCase())
    t.notOk(names.includes('x-api-key'), `${request.url}: no x-api-key`)
    t.notOk(names.includes('authorization'), `${request.url}: no Authorization`)
    t.notOk(request.rawHeaders.some((value) => value.includes(KEY)), `${request.url}: the key is in no header`)
  }
  t.equal(upstream.requests[0]?.headers['x-tollgate-client'], 'acme', 'the app learns who called')
  t.equal(upstream.requests[0]?.headers['x-other'], '1', 'other headers pass')
})

t.test('api_key.header: Authorization means the Bearer form', async (t) => {
  const { upstream, ask } = await setUp(t, 'api_key: { header: Authorization }')
  const bearer = await ask('/a', [`authorization: Bearer ${KEY}`])
  t.equal(bearer.status, 200, 'a Bearer request is not a 400')
  t.equal(bearer.limit, '100')
  t.equal((await ask('/b', ['authorization: Bearer '])).status, 401, 'an empty Bearer is still a 401')
  t.equal((await ask('/c', [`authorization: Bearer ${KEY}`, `authorization: Bearer ${KEY}`])).error, 'malformed_api_key')
  t.notOk(upstream.requests.some((r) => r.headers.authorization !== undefined), 'not forwarded either')
})

t.test('api_key.unknown: anonymous takes an empty key like any unknown one', async (t) => {
  const { ask } = await setUp(t, 'api_key: { unknown: anonymous }')
  const answer = await ask('/e', ['authorization: Bearer'])
  t.equal(answer.status, 200)
  t.equal(answer.limit, '50', 'the anonymous plan, as configured for unknown keys')
})
