import t from 'tap'
import { textHash } from '../../src/config/load'
import { startTollgate } from '../helpers/child'
import { get } from '../helpers/http'
import { LISTEN } from '../helpers/stack'
import { startUpstream } from '../helpers/upstream'
import { limitInForce, nextLog, PARTIAL_KEY as KEY, partialConfig as configWith, REJECTED, reloadMetrics as metrics } from '../helpers/live'

// Edits that apply only in part or not at all, through the real CLI's file watch: a
// file briefly empty (never "no keys"), and listen/upstream, which need a restart.

t.test('an empty file is an error, not "all defaults": keys are never revoked, not even for a moment', async (t) => {
  const upstream = await startUpstream(t)
  const good = configWith(upstream.url, 100_000)
  const tollgate = await startTollgate(t, { configYaml: good })

  // Steady traffic with the key the whole time; any 401 would be a revoked key.
  const statuses = new Map<number, number>()
  let running = true
  const client = async (): Promise<void> => {
    while (running) {
      const { status } = await get(`${tollgate.proxyUrl}/steady`, { 'x-api-key': KEY })
      statuses.set(status, (statuses.get(status) ?? 0) + 1)
    }
  }
  const clients = Array.from({ length: 4 }, client)

  // Empty long enough for the watch to read it, then the same full text back.
  const rejected = nextLog(tollgate, (l) => l.msg === REJECTED)
  await tollgate.writeConfig('', { inPlace: true })
  t.match((await rejected).errors, [`${tollgate.configPath}: the file is empty`])
  t.match(await metrics(tollgate), { failure: 1, lastOk: 0 })
  const restored = nextLog(tollgate, (l) => l.msg === 'config reloaded')
  await tollgate.writeConfig(good, { inPlace: true })
  t.match(await restored, { hash: textHash(good), changes: 'none' })
  t.strictSame(await metrics(tollgate), { success: 1, failure: 1, lastOk: 1, info: textHash(good) }, 'a failure, then a success')

  // And quick: empty then full again within the debounce, five times.
  for (let i = 0; i < 5; i++) {
    await tollgate.writeConfig('', { inPlace: true })
    await tollgate.writeConfig(configWith(upstream.url, 100_000 + i), { inPlace: true })
    await new Promise((resolve) => setTimeout(resolve, 30))
  }
  await tollgate.waitForLog((l) => l.msg === 'config reloaded' && l.hash === textHash(configWith(upstream.url, 100_004)))
  running = false
  await Promise.all(clients)
  const total = [...statuses.values()].reduce((a, b) => a + b, 0)
  t.strictSame(Object.fromEntries(statuses), { 200: total }, `all ${total} requests got 200, none 401`)
  t.ok(total > 50, `traffic ran throughout (${total} requests)`)
})

t.test('listen and upstream need a restart: refused with a clear line, the rest of the edit applies', async (t) => {
  const upstream = await startUpstream(t)
  const other = await startUpstream(t)
  const tollgate = await startTollgate(t, { configYaml: configWith(upstream.url, 10) })

  const warned = nextLog(tollgate, (l) => l.level === 40 && typeof l.msg === 'string' && l.msg.includes('needs a restart'))
  const applied = nextLog(tollgate, (l) => l.msg === 'config reloaded')
  const edited = configWith(other.url, 30).replace(LISTEN, 'listen: { proxy: 127.0.0.1:1, admin: 127.0.0.1:2 }')
  await tollgate.writeConfig(edited)
  const warning = await warned
  t.strictSame(warning.settings, ['listen', 'upstream'])
  t.equal(warning.trigger, 'watch')
  t.match(warning.msg, /listen and upstream/)
  t.match(await applied, { hash: textHash(edited), changes: { plans: { changed: ['free'] }, settings: [] } })

  t.equal(await limitInForce(tollgate), '200 30', 'the plan change in the same edit applies, on the running port')
  t.equal(upstream.requests.filter((r) => r.url === '/x').length, 1, 'forwarded to the running upstream')
  t.equal(other.requests.length, 0, 'never to the new one')
  t.match(await metrics(tollgate), { success: 1, failure: 0, lastOk: 1 })
})
