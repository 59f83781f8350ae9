import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { LiveConfig, loadConfigFile } from '../../src/config'

// The watch calls reload() on every event of the config's directory: a log file written
// beside it makes that once a second. The text in force must not be parsed again each
// time (1,000 keys took the event loop for tens of ms per parse, the bench's p99 tail).
// The parse is seen through the environment: only parsing expands `${UPSTREAM_PORT}`.

const TEXT = 'listen: { proxy: 127.0.0.1:1000, admin: 127.0.0.1:1001 }\n' +
  'upstream: http://127.0.0.1:${UPSTREAM_PORT}\nplans: { free: [ { max: 5, per: 1m } ] }\n'

/** An environment that counts how often UPSTREAM_PORT is looked up. */
function countingEnv (): { env: Record<string, string>, reads: () => number } {
  let reads = 0
  const env = new Proxy<Record<string, string>>({}, {
    get: (_target, name) => {
      if (name !== 'UPSTREAM_PORT') return undefined
      reads++
      return '3000'
    }
  })
  return { env, reads: () => reads }
}

t.test('an unchanged file is hashed, not parsed again; a changed one is parsed', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tollgate-same-'))
  t.teardown(async () => await rm(dir, { recursive: true, force: true }))
  const path = join(dir, 'config.yml')
  await writeFile(path, TEXT)
  const { env, reads } = countingEnv()
  const loaded = await loadConfigFile(path, env)
  if (!loaded.ok) throw new Error(loaded.errors.join('\n'))
  t.equal(reads(), 1, 'the first load parses')
  let builds = 0
  const live = new LiveConfig<null>(
    { config: loaded.config, hash: loaded.hash, loadedAt: new Date(0), state: null },
    { path, env, build: async () => { builds++; return null } }
  )
  for (let i = 0; i < 5; i++) {
    t.same(await live.reload('watch'), { result: 'unchanged', hash: loaded.hash })
  }
  t.same(await live.reload('SIGHUP', { repeat: true }), { result: 'unchanged', hash: loaded.hash }, 'asked explicitly: still unchanged')
  t.equal(reads(), 1, 'six reloads of the same text parsed nothing')

  await writeFile(path, TEXT.replace('max: 5', 'max: 6'))
  const changed = await live.reload('watch')
  t.equal(changed.result, 'success')
  t.equal(reads(), 2, 'a new text is parsed')
  t.equal(builds, 1)
  t.equal(live.config.plans.free?.[0]?.max, 6)
})

t.test('a file put back after a rejected one is parsed and clears the failure', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tollgate-same-'))
  t.teardown(async () => await rm(dir, { recursive: true, force: true }))
  const path = join(dir, 'config.yml')
  await writeFile(path, TEXT)
  const { env } = countingEnv()
  const loaded = await loadConfigFile(path, env)
  if (!loaded.ok) throw new Error(loaded.errors.join('\n'))
  const live = new LiveConfig<null>(
    { config: loaded.config, hash: loaded.hash, loadedAt: new Date(0), state: null },
    { path, env, build: async () => null }
  )
  await writeFile(path, 'plans: [ nope')
  t.equal((await live.reload('watch')).result, 'failure')
  t.equal(live.lastReload?.ok, false)
  await writeFile(path, TEXT)
  t.equal((await live.reload('watch')).result, 'success', 'the good text again is a success, not unchanged')
  t.equal(live.lastReload?.ok, true)
})
