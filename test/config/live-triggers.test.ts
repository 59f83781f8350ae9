import { mkdtemp, rm, symlink, utimes, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import type { Test } from 'tap'
import { textHash } from '../../src/config/load'
import { startTollgate, type Tollgate } from '../helpers/child'
import { type LogLine } from '../helpers/child-output'
import { get, post } from '../helpers/http'
import { LISTEN } from '../helpers/stack'
import { startUpstream } from '../helpers/upstream'

// What sets off a reload of the real CLI: the file watch (an in-place write, an atomic
// rename), SIGHUP and POST /-/reload; and what does not (a touch, the same text again).
// Each change is a plan's max, which every response states in x-ratelimit-limit.

const KEY = 'acme-trigger-key-5d0c'
const APPLY_WITHIN_MS = 2000

const configWith = (upstream: string, max: number, extra = ''): string => `${LISTEN}
upstream: ${upstream}
plans: { free: [ { max: ${max}, per: 1h } ] }
keys: [ { name: acme, key: ${KEY}, plan: free } ]
${extra}`

/** The plan max the running config applies to acme, as the response says. */
async function limitInForce (tollgate: Tollgate): Promise<string> {
  const res = await get(`${tollgate.proxyUrl}/x`, { 'x-api-key': KEY })
  return String(res.headers['x-ratelimit-limit'])
}

/** The next matching line logged after this call (earlier ones do not count). */
function nextLog (tollgate: Tollgate, predicate: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine> {
  const from = tollgate.logs().length
  return tollgate.waitForLog((line) => predicate(line) && tollgate.logs().indexOf(line) >= from, timeoutMs)
}

const isReload = (line: LogLine): boolean => line.msg === 'config reloaded'

async function metric (tollgate: Tollgate, series: string): Promise<number> {
  const { body } = await get(`${tollgate.adminUrl}/metrics`)
  const line = body.split('\n').find((l) => l.startsWith(`${series} `))
  if (line === undefined) throw new Error(`no series ${series} in /metrics`)
  return Number(line.slice(series.length + 1))
}

t.test('the file watch: an in-place write and an atomic rename each apply within 2 s', async (t) => {
  const upstream = await startUpstream(t)
  const tollgate = await startTollgate(t, { configYaml: configWith(upstream.url, 10) })
  t.equal(await limitInForce(tollgate), '10')

  for (const [max, inPlace] of [[20, true], [30, false], [40, true], [50, false]] as const) {
    const text = configWith(upstream.url, max)
    const logged = nextLog(tollgate, isReload, APPLY_WITHIN_MS)
    const started = Date.now()
    await tollgate.writeConfig(text, { inPlace })
    const line = await logged
    const took = Date.now() - started
    t.ok(took < APPLY_WITHIN_MS, `${inPlace ? 'in-place write' : 'atomic rename'} applied in ${took} ms`)
    t.match(line, { trigger: 'watch', hash: textHash(text), changes: { plans: { changed: ['free'] } } })
    t.equal(await limitInForce(tollgate), String(max), 'the next request has the new max')
  }
  t.equal(await metric(tollgate, 'tollgate_config_reloads_total{result="success"}'), 4, 'one reload per edit: the write bursts are debounced')
  t.equal(await metric(tollgate, 'tollgate_config_reloads_total{result="failure"}'), 0)
})

t.test('a touch or the same text again: no reload, nothing counted', async (t) => {
  const upstream = await startUpstream(t)
  // At debug the deduped attempts are logged, which proves the watch did fire.
  const text = configWith(upstream.url, 10, 'log_level: debug\n')
  const tollgate = await startTollgate(t, { configYaml: text })

  const touched = nextLog(tollgate, (line) => line.msg === 'config unchanged' && line.trigger === 'watch')
  const now = new Date()
  await utimes(tollgate.configPath, now, now)
  await touched
  const rewritten = nextLog(tollgate, (line) => line.msg === 'config unchanged' && line.trigger === 'watch')
  await tollgate.writeConfig(text, { inPlace: true })
  await rewritten
  const renamed = nextLog(tollgate, (line) => line.msg === 'config unchanged' && line.trigger === 'watch')
  await tollgate.writeConfig(text)
  await renamed

  t.notOk(tollgate.logs().some(isReload), 'no "config reloaded" line')
  t.equal(await metric(tollgate, 'tollgate_config_reloads_total{result="success"}'), 0)
  t.equal(await metric(tollgate, 'tollgate_config_reloads_total{result="failure"}'), 0)
  const full = (await get(`${tollgate.adminUrl}/health/full`)).json() as { checks: Record<string, Array<{ observedValue: { lastReload: string } }>> }
  t.equal(full.checks['config:reload']?.[0]?.observedValue.lastReload, 'none')
})

/**
 * A tollgate whose `--config` is a symlink to a file in another directory: edits of
 * that file in place make no event in the watched directory, so (until the 10 s poll)
 * only SIGHUP or POST /-/reload can apply them, and the log must name that trigger.
 */
async function unwatched (t: Test, text: string): Promise<{ tollgate: Tollgate, write: (text: string) => Promise<void> }> {
  const real = await mkdtemp(join(tmpdir(), 'tollgate-real-'))
  const linked = await mkdtemp(join(tmpdir(), 'tollgate-link-'))
  t.teardown(async () => { await Promise.all([rm(real, { recursive: true, force: true }), rm(linked, { recursive: true, force: true })]) })
  await writeFile(join(real, 'config.yml'), text)
  await symlink(join(real, 'config.yml'), join(linked, 'config.yml'))
  // The helper's own config.yml is empty: were it read instead, tollgate would not start.
  const tollgate = await startTollgate(t, { configYaml: '', args: ['--config', join(linked, 'config.yml')] })
  return { tollgate, write: async (next) => { await writeFile(join(real, 'config.yml'), next) } }
}

t.test('SIGHUP reloads, and the process keeps serving', async (t) => {
  const upstream = await startUpstream(t)
  const { tollgate, write } = await unwatched(t, configWith(upstream.url, 10))
  t.equal(await limitInForce(tollgate), '10')

  const text = configWith(upstream.url, 25)
  const logged = nextLog(tollgate, isReload)
  await write(text)
  tollgate.signal('SIGHUP')
  t.match(await logged, { trigger: 'SIGHUP', hash: textHash(text), changes: { plans: { changed: ['free'] } } })
  t.equal(await limitInForce(tollgate), '25', 'the next request has the new max')

  const quiet = nextLog(tollgate, (l) => isReload(l) || l.msg === 'config reload rejected: the running config stays', 1000).catch(() => undefined)
  tollgate.signal('SIGHUP')
  tollgate.signal('SIGHUP')
  t.equal(await quiet, undefined, 'SIGHUP on an unchanged file: no reload line')
  t.equal((await get(`${tollgate.proxyUrl}/still`, { 'x-api-key': KEY })).status, 200, 'still serving after three SIGHUPs')
  t.notOk(tollgate.logs().some((l) => String(l.msg).startsWith('shutting down')), 'SIGHUP never starts a shutdown')
  const exited = await Promise.race([tollgate.exited, new Promise((resolve) => setTimeout(() => resolve('running'), 100))])
  t.equal(exited, 'running')
  t.equal(await metric(tollgate, 'tollgate_config_reloads_total{result="success"}'), 1)
})

t.test('POST /-/reload on the admin port: 200 with the hash and the changes, 200 unchanged, 400 with the errors', async (t) => {
  const upstream = await startUpstream(t)
  const { tollgate, write } = await unwatched(t, configWith(upstream.url, 10))

  const same = await post(`${tollgate.adminUrl}/-/reload`, null)
  t.equal(same.status, 200)
  t.match(same.json(), { result: 'unchanged', hash: String })

  const text = configWith(upstream.url, 15, 'routes: [ { match: "GET /free/*", limit: false } ]\n')
  await write(text)
  const applied = await post(`${tollgate.adminUrl}/-/reload`, null)
  t.equal(applied.status, 200)
  t.strictSame(applied.json(), {
    result: 'success',
    hash: textHash(text),
    changes: {
      plans: { added: [], removed: [], changed: ['free'] },
      keys: { added: [], removed: [], changed: [] },
      routes: { added: ['GET /free/*'], removed: [], changed: [] },
      settings: []
    },
    restartNeeded: [],
    warnings: ['key "acme" is in clear text in the config; store its sha256 instead (tollgate hash-key)']
  })
  t.match(await tollgate.waitForLog((l) => isReload(l) && l.hash === textHash(text)), { trigger: 'POST /-/reload' })
  t.equal(await limitInForce(tollgate), '15')
  t.equal((await get(`${tollgate.proxyUrl}/free/a`)).status, 200, 'the new route applies: no key needed')

  const again = await post(`${tollgate.adminUrl}/-/reload`, null)
  t.strictSame(again.json(), { result: 'unchanged', hash: textHash(text) })

  await write(`${configWith(upstream.url, 99)}shadow: maybe\n`)
  const refused = await post(`${tollgate.adminUrl}/-/reload`, null)
  t.equal(refused.status, 400)
  t.strictSame(refused.json(), { result: 'failure', errors: ['shadow: "maybe" must be boolean'] })
  const twice = await post(`${tollgate.adminUrl}/-/reload`, null)
  t.equal(twice.status, 400, 'asked again: rejected again, not "unchanged"')
  t.equal(await limitInForce(tollgate), '15', 'the running config stays')
  t.equal((await get(`${tollgate.adminUrl}/health/ready`)).status, 200)
  t.equal(await metric(tollgate, 'tollgate_config_reloads_total{result="failure"}'), 2, 'each explicit ask counts')
})
