import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { LiveConfig, loadConfigFile } from '../../src/config'
import { freeMax, harness, plan, type State } from './live-unit-harness'

// LiveConfig's swap: a new state is built from the new file, then swapped in whole;
// reloads queue one at a time (live-unit-harness.ts has the harness).

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
