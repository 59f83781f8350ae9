import t from 'tap'
import { textHash } from '../../src/config/load'
import { createLogger } from '../../src/observe/logger'
import { startTollgate, type Tollgate } from '../helpers/child'
import { type LogLine } from '../helpers/child-output'
import { get, type TextResponse } from '../helpers/http'
import { LISTEN } from '../helpers/stack'
import { startUpstream, type EchoBody } from '../helpers/upstream'
import { nextLog, reloadTo, sha256 } from '../helpers/live'

// Settings that apply to the running process through the real CLI: log_level,
// api_key.header (and the redaction that follows it), keys revoked and rotated, and
// what the reload's log line says about them.

const ACME_KEY = 'acme-settings-key-1f4e'

const accessLines = (tollgate: Tollgate, path: string): LogLine[] => tollgate.logs().filter((l) => l.msg === 'request' && l.path === path)

t.test('log_level info → warn → info: the access log stops, then comes back', async (t) => {
  const upstream = await startUpstream(t)
  const base = `${LISTEN}
upstream: ${upstream.url}
plans: { free: [ { max: 1000, per: 1h } ] }
keys: [ { name: acme, sha256: "${sha256(ACME_KEY)}", plan: free } ]
`
  const tollgate = await startTollgate(t, { configYaml: base })
  const key = { 'x-api-key': ACME_KEY }

  await get(`${tollgate.proxyUrl}/at-info`, key)
  await tollgate.waitForLog((l) => l.msg === 'request' && l.path === '/at-info')

  // Confirmed in the log although the new level hides info lines from then on.
  const quiet = await reloadTo(tollgate, `${base}log_level: warn\n`)
  t.match(quiet.changes, { settings: ['log_level'] })
  for (let i = 0; i < 5; i++) t.equal((await get(`${tollgate.proxyUrl}/at-warn`, key)).status, 200)
  // An error line written after those requests: had they been logged, their lines came first.
  const rejected = nextLog(tollgate, (l) => l.msg === 'config reload rejected: the running config stays')
  await tollgate.writeConfig(`${base}log_level: loud\n`)
  await rejected
  t.equal(accessLines(tollgate, '/at-warn').length, 0, 'no access-log line at warn')

  await reloadTo(tollgate, `${base}log_level: info\n`)
  await get(`${tollgate.proxyUrl}/at-info-again`, key)
  await tollgate.waitForLog((l) => l.msg === 'request' && l.path === '/at-info-again')
  t.equal(accessLines(tollgate, '/at-info').length, 1)
  t.equal(accessLines(tollgate, '/at-info-again').length, 1, 'back at info: the lines return')
})

t.test('api_key.header: the new header identifies keys, the old one no longer does; the key is never logged', async (t) => {
  const upstream = await startUpstream(t)
  const base = `${LISTEN}
upstream: ${upstream.url}
plans: { free: [ { max: 1000, per: 1h } ] }
keys: [ { name: acme, sha256: "${sha256(ACME_KEY)}", plan: free } ]
`
  const tollgate = await startTollgate(t, { configYaml: base })
  t.equal((await get(`${tollgate.proxyUrl}/old`, { 'x-api-key': ACME_KEY })).status, 200)
  t.equal((await get(`${tollgate.proxyUrl}/new`, { 'x-tenant-key': ACME_KEY })).status, 401, 'not a key header yet')

  const line = await reloadTo(tollgate, `${base}api_key: { header: X-Tenant-Key }\n`)
  t.match(line.changes, { settings: ['api_key'] })

  const byNew = await get(`${tollgate.proxyUrl}/new`, { 'x-tenant-key': ACME_KEY })
  t.equal(byNew.status, 200, 'the new header identifies the key')
  t.equal((byNew.json() as EchoBody).headers['x-tollgate-client'], 'acme')
  const byOld = await get(`${tollgate.proxyUrl}/old`, { 'x-api-key': ACME_KEY })
  t.equal(byOld.status, 401, 'the old header is just a header now')
  t.match(byOld.json(), { error: 'api_key_required' })
  t.equal((await get(`${tollgate.proxyUrl}/bearer`, { authorization: `Bearer ${ACME_KEY}` })).status, 200, 'Bearer still works')
  t.equal((await get(`${tollgate.proxyUrl}/wrong`, { 'x-tenant-key': 'not-a-key' })).status, 401)

  await tollgate.waitForLog((l) => l.msg === 'request' && l.path === '/wrong')
  t.notOk(tollgate.stdout().includes(ACME_KEY), 'the key is in no log line')
  t.notOk(tollgate.stdout().includes('not-a-key'), 'nor is an unknown one')
  t.match(accessLines(tollgate, '/new')[1], { client: 'acme', decision: 'allowed', status: 200 })
})

t.test('redaction follows api_key.header: any line carrying request headers censors them whole', async (t) => {
  // No tollgate code path logs request headers (the access log names the client; the
  // error handler logs the error alone), so the net is tested on the logger itself,
  // with the header name a reload could bring and one nobody configured yet.
  const lines: string[] = []
  const log = createLogger('info', { write: (line: string) => { lines.push(line) } })
  const headers = { 'x-tenant-key': ACME_KEY, 'x-anything-new': ACME_KEY, authorization: `Bearer ${ACME_KEY}`, cookie: `k=${ACME_KEY}` }
  log.info({ headers }, 'bare')
  log.info({ req: { method: 'GET', headers } }, 'req')
  log.info({ request: { headers } }, 'request')
  log.error({ err: { message: 'boom', headers } }, 'err')
  log.info({ res: { headers } }, 'res')
  log.info({ raw: { headers } }, 'raw')
  log.child({ reqId: 'req-1' }).error({ req: { headers } }, 'child')
  log.level = 'warn'
  log.warn({ req: { headers } }, 'after a level change')
  t.equal(lines.length, 8)
  for (const line of lines) {
    const parsed = JSON.parse(line) as { msg: string }
    t.notOk(line.includes(ACME_KEY), `${parsed.msg}: no key`)
    t.ok(line.includes('"headers":"[redacted]"'), `${parsed.msg}: the headers object is censored whole`)
  }
})

t.test('keys by name only in the reload line; a revoked or rotated key is refused on the next request', async (t) => {
  const upstream = await startUpstream(t)
  const DEMO_KEY = 'demo-settings-key-77c1'
  const ROTATED_KEY = 'acme-rotated-key-0b9d'
  const NEO_KEY = 'neo-settings-key-4a4a'
  const before = `${LISTEN}
upstream: ${upstream.url}
plans: { free: [ { max: 1000, per: 1h } ] }
keys:
  - { name: acme, sha256: "${sha256(ACME_KEY)}", plan: free }
  - { name: demo, key: ${DEMO_KEY}, plan: free }
`
  const tollgate = await startTollgate(t, { configYaml: before })
  for (const key of [ACME_KEY, DEMO_KEY]) t.equal((await get(`${tollgate.proxyUrl}/k`, { 'x-api-key': key })).status, 200)

  const after = `${LISTEN}
upstream: ${upstream.url}
plans: { free: [ { max: 1000, per: 1h } ], pro: [ { max: 5000, per: 1h } ] }
keys:
  - { name: acme, sha256: "${sha256(ROTATED_KEY)}", plan: free }
  - { name: neo, sha256: "${sha256(NEO_KEY)}", plan: pro }
routes: [ { match: "GET /open/*", limit: false } ]
shadow: false
trust_proxy: true
`
  const line = await reloadTo(tollgate, after)
  // Right after the line: the very next requests see the new keys.
  const send = async (key: string): Promise<TextResponse> => await get(`${tollgate.proxyUrl}/k`, { 'x-api-key': key })
  const [revoked, oldAcme, newAcme, neo] = await Promise.all([send(DEMO_KEY), send(ACME_KEY), send(ROTATED_KEY), send(NEO_KEY)])
  t.equal(revoked.status, 401, 'the removed key: 401 on the next request')
  t.match(revoked.json(), { error: 'invalid_api_key' })
  t.equal(oldAcme.status, 401, 'the rotated-out key: 401')
  t.equal(newAcme.status, 200, 'the rotated-in key')
  t.equal((newAcme.json() as EchoBody).headers['x-tollgate-client'], 'acme')
  t.equal(neo.status, 200)
  t.equal((neo.json() as EchoBody).headers['x-tollgate-plan'], 'pro')

  t.strictSame(line.changes, {
    plans: { added: ['pro'], removed: [], changed: [] },
    keys: { added: ['neo'], removed: ['demo'], changed: ['acme'] },
    routes: { added: ['GET /open/*'], removed: [], changed: [] },
    settings: ['trust_proxy']
  })
  t.equal(line.previous, textHash(before))
  const text = JSON.stringify(line)
  for (const secret of [ACME_KEY, DEMO_KEY, ROTATED_KEY, NEO_KEY, sha256(ACME_KEY), sha256(DEMO_KEY), sha256(ROTATED_KEY), sha256(NEO_KEY)]) {
    t.notOk(text.includes(secret), `the reload line carries no ${secret.length === 64 ? 'digest' : 'key'} ${secret.slice(0, 8)}…`)
    t.notOk(tollgate.stdout().includes(secret), `nor does any other line: ${secret.slice(0, 8)}…`)
  }

  // And back: a restored key works again at once.
  await reloadTo(tollgate, before)
  t.equal((await get(`${tollgate.proxyUrl}/k`, { 'x-api-key': DEMO_KEY })).status, 200, 'restored')
  t.equal((await get(`${tollgate.proxyUrl}/k`, { 'x-api-key': NEO_KEY })).status, 401, 'removed again')
})
