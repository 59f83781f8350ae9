import { mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import type { Test } from 'tap'
import { textHash } from '../../src/config/load'
import { startTollgate, type Tollgate } from '../helpers/child'
import { type LogLine } from '../helpers/child-output'
import { get } from '../helpers/http'
import { LISTEN } from '../helpers/stack'
import { startUpstream } from '../helpers/upstream'

// The real CLI reading its config through a Kubernetes ConfigMap volume layout, and
// through a symlink whose target's edits the watch cannot see (the poll must).

const KEY = 'acme-configmap-key-6a1d'
const APPLY_WITHIN_MS = 2000
/** The CLI's poll interval (watchConfig's default). */
const POLL_MS = 10_000

const configWith = (upstream: string, max: number): string => `${LISTEN}
upstream: ${upstream}
plans: { free: [ { max: ${max}, per: 1h } ] }
keys: [ { name: acme, key: ${KEY}, plan: free } ]
`

async function limitInForce (tollgate: Tollgate): Promise<string> {
  const res = await get(`${tollgate.proxyUrl}/x`, { 'x-api-key': KEY })
  return String(res.headers['x-ratelimit-limit'])
}

function nextLog (tollgate: Tollgate, predicate: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine> {
  const from = tollgate.logs().length
  return tollgate.waitForLog((line) => predicate(line) && tollgate.logs().indexOf(line) >= from, timeoutMs)
}

async function tempDir (t: Test, prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix))
  t.teardown(async () => await rm(dir, { recursive: true, force: true }))
  return dir
}

/**
 * A ConfigMap volume as kubelet lays it out: the data in a timestamped dir, `..data`
 * linking to it, and `config.yml -> ..data/config.yml`. `update` does what kubelet's
 * atomic writer does: a new timestamped dir, `..data_tmp` linking to it renamed over
 * `..data`, the old dir removed. The file named config.yml is never written.
 */
async function configMap (t: Test, text: string): Promise<{ path: string, update: (text: string) => Promise<void> }> {
  const dir = await tempDir(t, 'tollgate-configmap-')
  let serial = 0
  const version = async (body: string): Promise<string> => {
    const name = `..2026_11_26_10_00_0${serial++}.${String(process.hrtime.bigint()).slice(-9)}`
    await mkdir(join(dir, name))
    await writeFile(join(dir, name, 'config.yml'), body)
    return name
  }
  let current = await version(text)
  await symlink(current, join(dir, '..data'))
  await symlink(join('..data', 'config.yml'), join(dir, 'config.yml'))
  return {
    path: join(dir, 'config.yml'),
    update: async (body) => {
      const next = await version(body)
      await symlink(next, join(dir, '..data_tmp'))
      await rename(join(dir, '..data_tmp'), join(dir, '..data'))
      await rm(join(dir, current), { recursive: true })
      current = next
    }
  }
}

t.test('a ConfigMap update (the ..data symlink swap) applies within 2 s, again and again', async (t) => {
  const upstream = await startUpstream(t)
  const volume = await configMap(t, configWith(upstream.url, 10))
  // The helper's own config.yml is empty: were it read instead, tollgate would not start.
  const tollgate = await startTollgate(t, { configYaml: '', args: ['--config', volume.path] })
  t.equal(await limitInForce(tollgate), '10')

  for (const max of [20, 30, 40]) {
    const text = configWith(upstream.url, max)
    const logged = nextLog(tollgate, (l) => l.msg === 'config reloaded', APPLY_WITHIN_MS)
    const started = Date.now()
    await volume.update(text)
    const line = await logged
    t.ok(Date.now() - started < APPLY_WITHIN_MS, `swap to max ${max} applied in ${Date.now() - started} ms`)
    t.match(line, { trigger: 'watch', hash: textHash(text) })
    t.equal(await limitInForce(tollgate), String(max))
  }
  t.notOk(tollgate.logs().some((l) => l.msg === 'config reload rejected: the running config stays'), 'never caught half-swapped')
})

t.test('an edit the watch cannot see is applied by the poll within its interval', async (t) => {
  const upstream = await startUpstream(t)
  // config.yml links to a file in another directory: writing that file in place makes
  // no event in the watched directory.
  const real = await tempDir(t, 'tollgate-real-')
  const linked = await tempDir(t, 'tollgate-link-')
  await writeFile(join(real, 'config.yml'), configWith(upstream.url, 10))
  await symlink(join(real, 'config.yml'), join(linked, 'config.yml'))
  const tollgate = await startTollgate(t, { configYaml: '', args: ['--config', join(linked, 'config.yml')] })

  const text = configWith(upstream.url, 70)
  const logged = nextLog(tollgate, (l) => l.msg === 'config reloaded', POLL_MS + 3000)
  const started = Date.now()
  await writeFile(join(real, 'config.yml'), text)
  const line = await logged
  const took = Date.now() - started
  t.ok(took <= POLL_MS + 2000, `applied by the poll after ${took} ms`)
  t.match(line, { trigger: 'watch', hash: textHash(text) })
  t.equal(await limitInForce(tollgate), '70')
})
