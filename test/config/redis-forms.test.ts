import t from 'tap'
import type { Test } from 'tap'
import { parseConfig } from '../../src/config'

// The three `redis:` forms through `parseConfig`, as check-config sees them: each is
// accepted with its defaults, each mistake is named by path, and no password is quoted.

const PLANS = 'plans: { free: [ { max: 5, per: 1s } ] }\n'
const SECRET = 'hunter2-very-secret'

function errorsOf (redis: string, env: Record<string, string> = {}): string[] {
  const result = parseConfig(`redis: ${redis}\n${PLANS}`, env, 'test.yml')
  return result.ok ? [] : result.errors
}

function accepted (t: Test, redis: string): unknown {
  const result = parseConfig(`redis: ${redis}\n${PLANS}`, {}, 'test.yml')
  if (!result.ok) t.fail(result.errors.join('\n'))
  return result.ok ? result.config.redis : undefined
}

t.test('each form is accepted with the default timeout', async (t) => {
  t.strictSame(accepted(t, 'redis://127.0.0.1:6379'), { url: 'redis://127.0.0.1:6379', timeout: '250ms' })
  t.strictSame(accepted(t, '{ sentinels: [ "10.0.0.1:26379", "[::1]:26380" ], name: mymaster, password: pw, timeout: 1s }'),
    { sentinels: ['10.0.0.1:26379', '[::1]:26380'], name: 'mymaster', password: 'pw', timeout: '1s' })
  t.strictSame(accepted(t, '{ cluster: [ "cache-0:7000", "cache-1:7001" ], tls: {} }'),
    { cluster: ['cache-0:7000', 'cache-1:7001'], tls: {}, timeout: '250ms' })
  t.strictSame(accepted(t, '{ url: "rediss://cache:6380", timeout: 10ms }'), { url: 'rediss://cache:6380', timeout: '10ms' })
})

t.test('exactly one form, and the fields of one form only', async (t) => {
  t.strictSame(errorsOf('{ timeout: 1s }'), ['redis: needs exactly one of url, sentinels or cluster'])
  t.strictSame(errorsOf('{ url: "redis://a:1", cluster: [ "b:2" ] }'), ['redis: needs exactly one of url, sentinels or cluster (has url and cluster)'])
  t.strictSame(errorsOf('{ sentinels: [ "a:26379" ] }'), ['redis.name: is required with sentinels (the name in `sentinel monitor NAME ...`)'])
  t.strictSame(errorsOf('{ cluster: [ "a:7000" ], name: mymaster }'), ['redis.name: only goes with sentinels'])
  t.strictSame(errorsOf('{ cluster: [] }'), ['redis.cluster: [] must NOT have fewer than 1 items'])
  t.strictSame(errorsOf('{ cluster: [ "a:7000", "nohost" ] }'), ['redis.cluster[1]: "nohost" must be HOST:PORT of a cluster node, e.g. 127.0.0.1:7000'])
  t.strictSame(errorsOf('{ sentinels: [ "a:99999" ], name: m }'), ['redis.sentinels[0]: "a:99999" has a port above 65535'])
  t.strictSame(errorsOf('{ cluster: [ "a:7000" ], tls: { verify: false } }'), ['redis.tls.verify: is not a known key'])
  t.strictSame(errorsOf('{ cluster: [ "a:7000" ], db: 1 }'), ['redis.db: is not a known key'])
})

t.test('redis.timeout is bounded, and the bounds are named', async (t) => {
  t.strictSame(errorsOf('{ url: "redis://a:1", timeout: 1ms }'), ['redis.timeout: "1ms" must be at least 10ms'])
  t.strictSame(errorsOf('{ url: "redis://a:1", timeout: 0s }'), ['redis.timeout: "0s" must be at least 10ms'])
  t.strictSame(errorsOf('{ url: "redis://a:1", timeout: 11s }'), ['redis.timeout: "11s" must be at most 10s'])
  t.strictSame(errorsOf('{ url: "redis://a:1", timeout: 10s }'), [])
  t.match(errorsOf('{ url: "redis://a:1", timeout: soon }'), [/^redis\.timeout: "soon" is not a duration/])
})

t.test('a password, in the field or in a URL, never appears in an error', async (t) => {
  const lines = [
    ...errorsOf(`{ url: "http://:${SECRET}@cache:6379" }`),
    ...errorsOf(`{ url: "redis://:${SECRET}@cache:6379", password: ${SECRET} }`),
    ...errorsOf('{ cluster: [ "a:7000" ], password: 7 }'),
    ...errorsOf(`{ cluster: [ "a:7000" ], password: [ ${SECRET} ] }`),
    ...errorsOf('{ sentinels: [ "a:1" ], name: m, password: "${PW}", timeout: 1ms }', { PW: SECRET })
  ]
  t.ok(lines.length >= 5, lines.join('\n'))
  t.notOk(lines.some((line) => line.includes(SECRET)), 'the secret is never quoted')
  t.ok(lines.includes('redis.url: (value hidden) must be a redis:// or rediss:// URL'), 'the URL is named, not shown')
  t.ok(lines.includes('redis.password: with url, put the password in the URL (redis://:PASSWORD@host:port)'))
})
