import { unlink, writeFile } from 'node:fs/promises'
import t from 'tap'
import { harness, LISTEN, plan } from './live-unit-harness'

// LiveConfig's failures: a failing build, a file that does not parse, a missing file,
// each reported once to the watch and what stays in force (live-unit-harness.ts has the harness).

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
