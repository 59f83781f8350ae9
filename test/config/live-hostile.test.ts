import t from 'tap'
import { textHash } from '../../src/config/load'
import { startTollgate } from '../helpers/child'
import { get } from '../helpers/http'
import { limitInForce, nextLog, partialConfig as configWith, REJECTED, reloadMetrics as metrics } from '../helpers/live'
import { startUpstream } from '../helpers/upstream'
import { aliasBomb, nested, oversized } from './hostile-files'

// Issue 9, finding 4: an alias bomb moved over config.yml while serving ended in
// "Excessive alias count", "fatal error: shutting down" and exit 1. Each file here is
// really written over the watched file of a running CLI: a rejected reload, the file
// named, the old config serving, the process alive.

t.test('an alias bomb, an oversized file and a deep nesting are rejected reloads; the old config serves', async (t) => {
  const upstream = await startUpstream(t)
  const good = configWith(upstream.url, 10)
  const tollgate = await startTollgate(t, { configYaml: good })
  t.equal(await limitInForce(tollgate), '200 10')

  const cases: Array<[string, string, RegExp]> = [
    ['alias bomb', aliasBomb(), /: too many aliases \(more than 1000 nodes/],
    ['2 MiB file', oversized(configWith(upstream.url, 99)), /: cannot read the file: it has \d+ bytes, more than the 1048576 allowed$/],
    ['5,000 levels of nesting', nested(configWith(upstream.url, 99), 5000), /: nested more than 32 levels deep \(or an alias inside its own anchor\)$/],
    ['40 levels of nesting', nested(configWith(upstream.url, 99), 40), /: nested more than 32 levels deep \(or an alias inside its own anchor\)$/],
    // On main this one ran the loader out of stack: "Maximum call stack size exceeded".
    ['an alias inside its own anchor', `${configWith(upstream.url, 99)}shadow: &s [*s]\n`, /: nested more than 32 levels deep \(or an alias inside its own anchor\)$/]
  ]
  let failures = 0
  for (const [name, text, expected] of cases) {
    const rejected = nextLog(tollgate, (l) => l.msg === REJECTED)
    await tollgate.writeConfig(text)
    const line = await rejected
    const errors = line.errors as string[]
    t.equal(errors.length, 1, `${name}: one error`)
    t.ok(errors[0]?.startsWith(tollgate.configPath), `${name}: names the file: ${errors[0] ?? ''}`)
    t.match(errors[0], expected, name)
    failures++
    t.equal(await limitInForce(tollgate), '200 10', `${name}: the old limits still decide`)
    t.match(await metrics(tollgate), { failure: failures, info: textHash(good) }, `${name}: counted as a failed reload`)
  }
  // Finding 3 on the same process: values the limiter cannot honour are a rejected reload too.
  const rejected = nextLog(tollgate, (l) => l.msg === REJECTED)
  await tollgate.writeConfig(`${configWith(upstream.url, 2_000_000_000)}shutdown: { grace: 30d }\nredis: { url: "redis://127.0.0.1:1", timeout: 0s }\n`)
  t.strictSame((await rejected).errors, [
    'redis.timeout: "0s" must be at least 10ms',
    'plans.free[0].max: 2000000000 must be at most 1000000000',
    'shutdown.grace: "30d" must be at most 1h'
  ], 'out-of-bounds values: each named with its bound')
  t.equal(await limitInForce(tollgate), '200 10', 'out-of-bounds values: the old limits still decide')

  t.equal((await get(`${tollgate.adminUrl}/health/live`)).status, 200, 'alive')
  t.notOk(tollgate.logs().some((l) => l.level === 60), 'no fatal line')
  t.notMatch(tollgate.stderr(), /Warning|Error/, 'nothing on stderr')

  const fixed = configWith(upstream.url, 20)
  const applied = nextLog(tollgate, (l) => l.msg === 'config reloaded' && l.hash === textHash(fixed))
  await tollgate.writeConfig(fixed)
  await applied
  t.equal(await limitInForce(tollgate), '200 20', 'a good file applies after them')
})
