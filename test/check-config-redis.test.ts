import { join } from 'node:path'
import t from 'tap'
import type { Test } from 'tap'
import { runCli } from './helpers/run-cli'

// `tollgate check-config` on the Sentinel and Cluster forms, as an operator runs it.

const PLANS = 'plans: { free: [ { max: 5, per: 1s } ] }\n'
const SECRET = 'hunter2-very-secret'

async function checkConfig (t: Test, text: string): Promise<{ code: number | null, stdout: string, stderr: string }> {
  const dir = t.testdir({ 'config.yml': text })
  return await runCli(['check-config', join(dir, 'config.yml')], { env: { REDIS_PASSWORD: SECRET } })
}

t.test('each form passes with a summary that names it and no secret', async (t) => {
  const cluster = await checkConfig(t, `redis: { cluster: [ "c0:7000", "c1:7001", "c2:7002" ], password: "\${REDIS_PASSWORD}" }\n${PLANS}`)
  t.equal(cluster.code, 0, cluster.stderr)
  t.match(cluster.stdout, 'store:    redis cluster (3 seed nodes), on_redis_error: allow')
  const sentinel = await checkConfig(t, `redis: { sentinels: [ "s0:26379" ], name: mymaster, password: "\${REDIS_PASSWORD}" }\n${PLANS}`)
  t.equal(sentinel.code, 0, sentinel.stderr)
  t.match(sentinel.stdout, 'store:    redis via 1 sentinel(s), primary "mymaster", on_redis_error: allow')
  t.notOk(cluster.stdout.includes(SECRET) || sentinel.stdout.includes(SECRET), 'no password in the summary')
})

t.test('a wrong form fails with every error and its path, the password hidden', async (t) => {
  const bad = await checkConfig(t, `redis: { url: "redis://:\${REDIS_PASSWORD}@c:1", cluster: [ "c0:70000" ], timeout: 20s, password: 5 }\n${PLANS}`)
  t.equal(bad.code, 1)
  const out = bad.stdout + bad.stderr
  for (const line of [
    'redis: needs exactly one of url, sentinels or cluster (has url and cluster)',
    'redis.cluster[0]: "c0:70000" has a port above 65535',
    'redis.timeout: "20s" must be at most 10s',
    'redis.password: (value hidden) must be string'
  ]) t.ok(out.includes(line), line)
  t.notOk(out.includes(SECRET), 'the password in the URL is never shown')
})
