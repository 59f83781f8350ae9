import t from 'tap'
import { startTollgate } from '../helpers/child'
import { get, post, type TextResponse } from '../helpers/http'
import { check } from '../helpers/metrics'
import { LISTEN } from '../helpers/stack'
import { startUpstream } from '../helpers/upstream'

/*
 * The `config:reload` component of `/health/full`, end to end: the hash in force (the
 * one the start logs), when it was loaded, and how the last reload went. A rejected
 * reload is a warning (the old config keeps serving), never a reason to be unready.
 */

/**
 * A child transpiles the sources it has not seen yet as it starts: on a loaded machine that
 * alone can pass the helper's 15 s default, and start-up time is not what this file tests.
 */
const READY_TIMEOUT_MS = 60_000

/** The rest of one cache second, then one check, with room for a loaded CI machine. */
const SOON_MS = 2500

interface ConfigCheck {
  status: string
  required: boolean
  output?: string
  observedValue: { hash: string, loadedAt: string, lastReload: string, errors?: string[] }
}

function configYaml (upstream: string, max: number): string {
  return `${LISTEN}
upstream: ${upstream}
upstream_health: { interval: 1s, timeout: 500ms }
plans: { free: [ { max: ${max}, per: 1s } ] }
`
}

/** Polls /health/full until its config check satisfies `done`. */
async function fullUntil (adminUrl: string, done: (check: ConfigCheck) => boolean): Promise<{ res: TextResponse, status: string, config: ConfigCheck, ms: number }> {
  const started = Date.now()
  for (;;) {
    const res = await get(`${adminUrl}/health/full`)
    const body = res.json() as { status: string, checks: Record<string, ConfigCheck[]> }
    const config = check(body, 'config:reload')
    if (done(config) || Date.now() - started > 5000) return { res, status: body.status, config, ms: Date.now() - started }
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

t.test('config: the logged hash and load time, then a rejected reload warns and a good one moves the hash', async (t) => {
  const upstream = await startUpstream(t)
  const startedAt = Date.now()
  const tg = await startTollgate(t, { configYaml: configYaml(upstream.url, 10), readyTimeoutMs: READY_TIMEOUT_MS })
  const listening = await tg.waitForLog((l) => l.msg === 'tollgate listening')

  const first = await fullUntil(tg.adminUrl, () => true)
  t.equal(first.res.status, 200)
  t.equal(first.status, 'pass')
  t.equal(first.config.status, 'pass')
  t.equal(first.config.required, true)
  t.equal(first.config.observedValue.hash, listening.config, 'the hash the `tollgate listening` line shows')
  t.equal(first.config.observedValue.lastReload, 'none')
  const loadedAt = Date.parse(first.config.observedValue.loadedAt)
  t.ok(loadedAt >= startedAt && loadedAt <= Date.parse(String(listening.time)), 'loadedAt: when this config was loaded')

  await tg.writeConfig('plans: {}\n')
  const rejected = await post(`${tg.adminUrl}/-/reload`, null)
  t.equal(rejected.status, 400, 'the reload is refused')
  const warned = await fullUntil(tg.adminUrl, (c) => c.observedValue.lastReload === 'failure')
  t.ok(warned.ms < SOON_MS, `seen in ${warned.ms} ms`)
  t.equal(warned.res.status, 200, 'a rejected reload is a warning: 200')
  t.equal(warned.status, 'warn')
  t.equal(warned.config.status, 'warn')
  t.equal(warned.config.observedValue.hash, listening.config, 'the old config still serves')
  t.ok(Array.isArray(warned.config.observedValue.errors) && warned.config.observedValue.errors.length > 0, 'with the errors')
  t.match(warned.config.output, listening.config as string)
  const ready = await get(`${tg.adminUrl}/health/ready`)
  t.equal(ready.status, 200, 'and still ready')

  await tg.writeConfig(configYaml(upstream.url, 20))
  const applied = await post(`${tg.adminUrl}/-/reload`, null)
  t.equal(applied.status, 200)
  // `unchanged` if the directory watch applied it first: the hash is there either way.
  const newHash = (applied.json() as { hash: string }).hash
  t.not(newHash, listening.config)
  const passed = await fullUntil(tg.adminUrl, (c) => c.observedValue.hash === newHash)
  t.ok(passed.ms < SOON_MS, `seen in ${passed.ms} ms`)
  t.equal(passed.res.status, 200)
  t.equal(passed.config.status, 'pass')
  t.equal(passed.config.observedValue.lastReload, 'success')
  t.ok(Date.parse(passed.config.observedValue.loadedAt) > loadedAt, 'loadedAt moved to the reload')
})
