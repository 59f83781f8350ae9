import { mkdtemp, rm, unlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import type { Test } from 'tap'
import { LiveConfig, loadConfigFile, type Config, type ReloadResult, type Snapshot } from '../../src/config'
import { at } from '../helpers/at'

// `LiveConfig` on a real file, with a `build` the test controls: read → parse →
// validate → build → swap one reference, and what each failure leaves in force.

const LISTEN = 'listen: { proxy: 127.0.0.1:1000, admin: 127.0.0.1:1001 }\nupstream: http://127.0.0.1:3000\n'
const plan = (max: number): string => `${LISTEN}plans: { free: [ { max: ${max}, per: 1m } ] }\n`
/** What `plan(max)` set: the first window of plan free. */
const freeMax = (config: Config): number => at(config.plans.free ?? [], 0).max

/** What the test's build makes: which config it came from, and a serial number. */
interface State { readonly max: number, readonly built: number }

interface Harness {
  readonly live: LiveConfig<State>
  readonly path: string
  /** Every `onReload` call, in order. */
  readonly reports: Array<{ result: ReloadResult, trigger: string, current: Snapshot<State>, previous: Snapshot<State> }>
  /** Every config `build` was given. */
  readonly builds: Config[]
  write(text: string): Promise<void>
  /** Replaces `build` for the next calls. */
  setBuild(build: (config: Config, previous: Snapshot<State>) => Promise<State>): void
}

async function harness (t: Test, text: string): Promise<Harness> {
  const dir = await mkdtemp(join(tmpdir(), 'tollgate-live-'))
  t.teardown(async () => await rm(dir, { recursive: true, force: true }))
  const path = join(dir, 'config.yml')
  await writeFile(path, text)
  const loaded = await loadConfigFile(path, {})
  if (!loaded.ok) throw new Error(loaded.errors.join('\n'))
  const builds: Config[] = []
  let serial = 0
  let build: (config: Config, previous: Snapshot<State>) => Promise<State> = async (config) => ({ max: freeMax(config), built: ++serial })
  const reports: Harness['reports'] = []
  const live = new LiveConfig<State>(
    { config: loaded.config, hash: loaded.hash, loadedAt: new Date(0), state: { max: freeMax(loaded.config), built: 0 } },
    {
      path,
      env: {},
      build: async (config, previous) => {
        builds.push(config)
        return await build(config, previous)
      },
      onReload: (result, trigger, current, previous) => { reports.push({ result, trigger, current, previous }) }
    }
  )
  return {
    live,
    path,
    reports,
    builds,
    write: async (next) => { await writeFile(path, next) },
    setBuild: (next) => { build = next }
  }
}

t.test('a valid change: built from the new config, then swapped, then reported', async (t) => {
  const h = await harness(t, plan(2))
  const before = h.live.current
  await h.write(plan(5))
  const result = await h.live.reload('watch')
  if (result.result !== 'success') throw new Error(JSON.stringify(result))
  t.equal(h.live.current.state.max, 5, 'the new state is in force')
  t.equal(freeMax(h.live.current.config), 5)
  t.equal(result.hash, h.live.current.hash)
  t.not(result.hash, before.hash)
  t.strictSame(result.changes.plans, { added: [], removed: [], changed: ['free'] })
  t.strictSame(result.restartNeeded, [])
  t.ok(h.live.current.loadedAt > before.loadedAt, 'loadedAt is the swap')
  t.equal(h.reports.length, 1)
  t.equal(h.reports[0]?.trigger, 'watch')
  t.equal(h.reports[0]?.current, h.live.current, 'reported after the swap, with the new snapshot')
  t.equal(h.reports[0]?.previous, before, 'and the one it replaced')
  t.equal(h.live.lastReload?.ok, true)
})

t.test('nothing is swapped while build runs: a request meanwhile pins the old snapshot', async (t) => {
  const h = await harness(t, plan(2))
  const before = h.live.current
  let release: (state: State) => void = () => {}
  h.setBuild(async () => await new Promise<State>((resolve) => { release = resolve }))
  await h.write(plan(7))
  const pending = h.live.reload('SIGHUP')
  await new Promise((resolve) => setTimeout(resolve, 50))
  t.equal(h.builds.length, 1, 'build was called')
  t.equal(h.live.current, before, 'still the old snapshot while the new state is built')
  const pinned = h.live.current
  release({ max: 7, built: 99 })
  await pending
  t.equal(h.live.current.state.built, 99, 'the built state is swapped in whole')
  t.equal(pinned.state.max, 2, 'what a request pinned before is untouched')
  t.equal(freeMax(pinned.config), 2)
})

t.test('a failing build rejects the file: nothing changes, the error names the file', async (t) => {
  const h = await harness(t, plan(2))
  const before = h.live.current
  h.setBuild(async () => { throw new Error('the new redis did not answer') })
  await h.write(plan(9))
  const result = await h.live.reload('POST /-/reload')
  t.strictSame(result, { result: 'failure', errors: [`${h.path}: cannot apply: the new redis did not answer`] })
  t.equal(h.live.current, before, 'the running snapshot stays')
  t.equal(h.live.lastReload?.ok, false)
  t.strictSame(h.live.lastReload?.errors, result.result === 'failure' ? result.errors : [])
  t.equal(h.reports[0]?.current, before)
})

t.test('a file that does not parse or validate is never built', async (t) => {
  const h = await harness(t, plan(2))
  const before = h.live.current
  await h.write(`${LISTEN}plans: { free: [ { max: 5, per: 1m } ]\n`)
  const yaml = await h.live.reload('watch')
  t.equal(yaml.result, 'failure')
  if (yaml.result === 'failure') t.match(yaml.errors[0], new RegExp(`^${h.path}:\\d+:\\d+: `), 'file:line:col')
  await h.write(`${LISTEN}plans: { free: [ { max: 0, per: 1x } ] }\n`)
  const schema = await h.live.reload('watch')
  t.strictSame(schema.result === 'failure' ? [...schema.errors].sort() : schema, [
    'plans.free[0].max: 0 must be at least 1',
    'plans.free[0].per: "1x" is not a duration (an integer with ms, s, m, h or d: 500ms, 30s, 5m, 1d)'
  ])
  await h.write('')
  const empty = await h.live.reload('watch')
  t.strictSame(empty, { result: 'failure', errors: [`${h.path}: the file is empty`] })
  t.equal(h.builds.length, 0, 'build was never called')
  t.equal(h.live.current, before)
})

t.test('a missing file is a failure, not a crash, reported once', async (t) => {
  const h = await harness(t, plan(2))
  await unlink(h.path)
  const result = await h.live.reload('watch')
  t.strictSame(result, { result: 'failure', errors: [`${h.path}: cannot read the file: no such file (ENOENT)`] })
  t.equal((await h.live.reload('watch')).result, 'unchanged', 'reported once to the watch, not at every poll')
  t.equal((await h.live.reload('SIGHUP', { repeat: true })).result, 'failure', 'and again when asked')
  await writeFile(h.path, plan(6))
  t.equal((await h.live.reload('watch')).result, 'success', 'back: applied')
})

t.test('the same text again is "unchanged": no build, no report of a reload, lastReload untouched', async (t) => {
  const h = await harness(t, plan(2))
  const before = h.live.current
  t.strictSame(await h.live.reload('watch'), { result: 'unchanged', hash: before.hash })
  t.equal(h.builds.length, 0)
  t.equal(h.live.current, before)
  t.equal(h.live.lastReload, undefined, 'still "none"')
  t.equal(h.reports[0]?.result.result, 'unchanged', 'onReload is told, so it can log at debug')
})

t.test('the same text with other whitespace is a new file: built, with an empty diff', async (t) => {
  const h = await harness(t, plan(2))
  await h.write(`${plan(2)}\n# a comment\n`)
  const result = await h.live.reload('watch')
  if (result.result !== 'success') throw new Error(JSON.stringify(result))
  t.strictSame(result.changes, { plans: { added: [], removed: [], changed: [] }, keys: { added: [], removed: [], changed: [] }, routes: { added: [], removed: [], changed: [] }, settings: [] })
})

t.test('a bad file is reported once to the watch, and again whenever asked explicitly', async (t) => {
  const h = await harness(t, plan(2))
  await h.write('plans: [')
  t.equal((await h.live.reload('watch')).result, 'failure')
  t.equal((await h.live.reload('watch')).result, 'unchanged', 'the poll reads it again: not a new failure')
  t.equal((await h.live.reload('SIGHUP', { repeat: true })).result, 'failure', 'asked for: reported again')
  await h.write('plans: [ ')
  t.equal((await h.live.reload('watch')).result, 'failure', 'another bad file is a new failure')
  t.equal(h.live.lastReload?.ok, false, 'the deduped attempts do not clear the failure')
})

t.test('a file whose build failed is not built again at every poll', async (t) => {
  const h = await harness(t, plan(2))
  h.setBuild(async () => { throw new Error('no answer') })
  await h.write(plan(3))
  t.equal((await h.live.reload('watch')).result, 'failure')
  t.equal((await h.live.reload('watch')).result, 'unchanged')
  t.equal(h.builds.length, 1, 'one build attempt for one file')
  t.equal((await h.live.reload('POST /-/reload', { repeat: true })).result, 'failure', 'an explicit reload retries it')
  t.equal(h.builds.length, 2)
})

t.test('putting the running file back after a rejected one is a success: the failure clears', async (t) => {
  // The regression: it was "unchanged", so the last reload stayed a failure (health warn,
  // last_reload_successful 0) although the file in force was good again.
  const h = await harness(t, plan(2))
  const before = h.live.current
  await h.write('')
  t.equal((await h.live.reload('watch')).result, 'failure')
  await h.write(plan(2))
  const result = await h.live.reload('watch')
  if (result.result !== 'success') throw new Error(JSON.stringify(result))
  t.equal(result.hash, before.hash)
  t.equal(h.live.current, before, 'nothing rebuilt or swapped')
  t.equal(h.builds.length, 0)
  t.equal(h.live.lastReload?.ok, true)
  t.strictSame(await h.live.reload('watch'), { result: 'unchanged', hash: before.hash }, 'and then unchanged again')
})

t.test('a success carries the new file\'s warnings: a key in clear text', async (t) => {
  const h = await harness(t, plan(2))
  await h.write(`${plan(2)}keys: [ { name: demo, key: demo-clear-1, plan: free } ]\n`)
  const result = await h.live.reload('watch')
  t.strictSame(result.result === 'success' ? result.warnings : result, ['key "demo" is in clear text in the config; store its sha256 instead (tollgate hash-key)'])
})

t.test('listen and upstream changes need a restart: the running ones stay, the rest applies', async (t) => {
  const h = await harness(t, plan(2))
  const before = h.live.current
  await h.write('listen: { proxy: 127.0.0.1:2000, admin: 127.0.0.1:1001 }\nupstream: http://127.0.0.1:4000\nplans: { free: [ { max: 8, per: 1m } ] }\n')
  const result = await h.live.reload('watch')
  if (result.result !== 'success') throw new Error(JSON.stringify(result))
  t.strictSame(result.restartNeeded, ['listen', 'upstream'])
  t.strictSame(h.builds[0]?.listen, before.config.listen, 'built with the running listen')
  t.strictSame(h.builds[0]?.upstream, before.config.upstream, 'and the running upstream')
  t.strictSame(h.live.current.config.listen, { proxy: '127.0.0.1:1000', admin: '127.0.0.1:1001' })
  t.equal(h.live.current.config.upstream?.url, 'http://127.0.0.1:3000')
  t.equal(h.live.current.state.max, 8, 'the plan change applies')
  t.strictSame(result.changes.settings, [], 'the diff shows what changed in force: not listen or upstream')
})

t.test('an upstream removed from the file needs a restart too', async (t) => {
  const h = await harness(t, plan(2))
  await h.write('listen: { proxy: 127.0.0.1:1000, admin: 127.0.0.1:1001 }\nplans: { free: [ { max: 2, per: 1m } ] }\n')
  const result = await h.live.reload('watch')
  t.strictSame(result.result === 'success' ? result.restartNeeded : result, ['upstream'])
  t.equal(h.live.current.config.upstream?.url, 'http://127.0.0.1:3000')
})

t.test('reloads run one at a time, each built on the snapshot before it', async (t) => {
  const h = await harness(t, plan(2))
  const order: string[] = []
  let started: () => void = () => {}
  const firstStarted = new Promise<void>((resolve) => { started = resolve })
  h.setBuild(async (config, previous) => {
    order.push(`start ${freeMax(config)} on ${previous.state.max}`)
    started()
    await new Promise((resolve) => setTimeout(resolve, 100))
    order.push(`end ${freeMax(config)}`)
    return { max: freeMax(config), built: 0 }
  })
  await h.write(plan(3))
  const first = h.live.reload('SIGHUP')
  await firstStarted
  // Written and asked for while the first build runs: read only once the first is done.
  await h.write(plan(4))
  const second = h.live.reload('POST /-/reload')
  const results = await Promise.all([first, second])
  t.strictSame(results.map((r) => r.result), ['success', 'success'])
  t.strictSame(order, ['start 3 on 2', 'end 3', 'start 4 on 3', 'end 4'])
  t.equal(h.live.current.state.max, 4)
  t.strictSame(h.reports.map((r) => r.trigger), ['SIGHUP', 'POST /-/reload'])
})

t.test('a throwing onReload does not wedge the queue', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tollgate-live-'))
  t.teardown(async () => await rm(dir, { recursive: true, force: true }))
  const path = join(dir, 'config.yml')
  await writeFile(path, plan(2))
  const loaded = await loadConfigFile(path, {})
  if (!loaded.ok) throw new Error('bad fixture')
  const live = new LiveConfig<null>({ config: loaded.config, hash: loaded.hash, loadedAt: new Date(), state: null }, {
    path,
    env: {},
    build: async () => null,
    onReload: () => { throw new Error('reporter bug') }
  })
  await writeFile(path, plan(3))
  await t.rejects(live.reload('watch'), /reporter bug/)
  await writeFile(path, plan(4))
  await t.rejects(live.reload('watch'), /reporter bug/, 'the next reload still runs')
  t.equal(freeMax(live.current.config), 4)
})
