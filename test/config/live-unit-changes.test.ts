import t from 'tap'
import { harness, plan } from './live-unit-harness'

// LiveConfig's changes: the same text, other whitespace, warnings, and the settings
// that need a restart (live-unit-harness.ts has the harness).

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
