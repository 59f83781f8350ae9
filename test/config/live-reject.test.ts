import t from 'tap'
import { textHash } from '../../src/config/load'
import { startTollgate, type Tollgate } from '../helpers/child'
import { get } from '../helpers/http'
import { check } from '../helpers/metrics'
import { LISTEN } from '../helpers/stack'
import { startUpstream } from '../helpers/upstream'
import { limitInForce, nextLog, PARTIAL_KEY as KEY, partialConfig as configWith, REJECTED, reloadMetrics as metrics } from '../helpers/live'

// A file tollgate cannot take, through the real CLI's file watch: the running config
// stays and keeps deciding, the log names each error with its path, and the metrics and
// /health/full say so until a good file comes.

interface ConfigCheck { status: string, observedValue: { hash: string, lastReload: string, errors?: string[] }, output?: string }

async function configCheck (tollgate: Tollgate): Promise<{ httpStatus: number, overall: string, check: ConfigCheck }> {
  // Results are cached for a second: wait that out so the probe sees the latest reload.
  await new Promise((resolve) => setTimeout(resolve, 1100))
  const res = await get(`${tollgate.adminUrl}/health/full`)
  const body = res.json() as { status: string, checks: Record<string, ConfigCheck[]> }
  return { httpStatus: res.status, overall: body.status, check: check(body, 'config:reload') }
}

t.test('invalid YAML: rejected with file:line:col, the old config serves, reported once, recovered by the next good file', async (t) => {
  const upstream = await startUpstream(t)
  const good = configWith(upstream.url, 10)
  const tollgate = await startTollgate(t, { configYaml: good })
  t.equal(await limitInForce(tollgate), '200 10')

  const rejected = nextLog(tollgate, (l) => l.msg === REJECTED)
  await tollgate.writeConfig(`${configWith(upstream.url, 99)}routes: [ { match: "GET /x" }\n`)
  const line = await rejected
  t.equal(line.level, 50, 'logged as an error')
  t.equal(line.trigger, 'watch')
  t.equal(line.hash, textHash(good), 'names the hash still in force')
  const errors = line.errors as string[]
  t.ok(errors.length >= 1, 'with the errors')
  t.match(errors[0], new RegExp(`^${tollgate.configPath.replace(/[.]/g, '\\.')}:\\d+:\\d+: `), `each names the file, line and column: ${errors[0]}`)

  t.equal(await limitInForce(tollgate), '200 10', 'requests keep the old limits')
  t.strictSame(await metrics(tollgate), { success: 0, failure: 1, lastOk: 0, info: textHash(good) })
  const health = await configCheck(tollgate)
  t.equal(health.httpStatus, 200, '/health/full still 200: a warning')
  t.equal(health.overall, 'warn')
  t.match(health.check, { status: 'warn', observedValue: { hash: textHash(good), lastReload: 'failure', errors } })
  t.equal((await get(`${tollgate.adminUrl}/health/ready`)).status, 200, 'still ready')

  // The 10 s poll reads the same bad file again: not a second failure, not a second line.
  await new Promise((resolve) => setTimeout(resolve, 10_500))
  t.equal((await metrics(tollgate)).failure, 1, 'counted once per bad file, not at every poll')
  t.equal(tollgate.logs().filter((l) => l.msg === REJECTED).length, 1, 'logged once')

  const fixed = configWith(upstream.url, 20)
  const applied = nextLog(tollgate, (l) => l.msg === 'config reloaded')
  await tollgate.writeConfig(fixed)
  t.equal((await applied).hash, textHash(fixed))
  t.equal(await limitInForce(tollgate), '200 20')
  t.strictSame(await metrics(tollgate), { success: 1, failure: 1, lastOk: 1, info: textHash(fixed) })
  const recovered = await configCheck(tollgate)
  t.equal(recovered.overall, 'pass')
  t.strictSame(recovered.check.observedValue.lastReload, 'success')
  t.equal(recovered.check.status, 'pass')
})

t.test('a schema error: every error with its path and value; nothing of the file applies', async (t) => {
  const upstream = await startUpstream(t)
  const good = configWith(upstream.url, 10, 'routes: [ { match: "GET /open/*", limit: false } ]\n')
  const tollgate = await startTollgate(t, { configYaml: good })

  const rejected = nextLog(tollgate, (l) => l.msg === REJECTED)
  // A valid plan change and a valid route removal next to two mistakes: none of it applies.
  await tollgate.writeConfig(`${LISTEN}
upstream: ${upstream.url}
plans: { free: [ { max: 50, per: 1x } ] }
keys: [ { name: acme, key: ${KEY}, plan: gold } ]
`)
  t.strictSame([...(await rejected).errors as string[]].sort(), [
    'keys[0].plan: "gold" is not a plan in plans (free)',
    'plans.free[0].per: "1x" is not a duration (an integer with ms, s, m, h or d: 500ms, 30s, 5m, 1d)'
  ])
  t.equal(await limitInForce(tollgate), '200 10', 'the old plan')
  t.equal((await get(`${tollgate.proxyUrl}/open/a`)).status, 200, 'the old route: still no key needed')
  t.match(await metrics(tollgate), { failure: 1, lastOk: 0, info: textHash(good) })
})
