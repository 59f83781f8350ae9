import { createHash } from 'node:crypto'
import t from 'tap'
import type { Test } from 'tap'
import { durationMs, parseConfig, type Config } from '../../src/config'

// Pure tests of `parseConfig(text, env, source)`: no file, no process, the env passed in.

const SOURCE = 'test.yml'
const PLANS = 'plans:\n  free: [ { max: 5, per: 1s } ]\n'
const NOT_A_DURATION = 'is not a duration (an integer with ms, s, m, h or d: 500ms, 30s, 5m, 1d)'
const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex')

type Env = Record<string, string | undefined>

/** The config `text` parses to; fails the test with the errors if it does not. */
function accepted (t: Test, text: string, env: Env = {}): Config {
  const result = parseConfig(text, env, SOURCE)
  if (!result.ok) {
    t.fail(`expected the config to be accepted, got:\n${result.errors.join('\n')}`)
    throw new Error('config rejected')
  }
  return result.config
}

/** Every error `text` gives; fails the test if it is accepted. */
function rejected (t: Test, text: string, env: Env = {}): string[] {
  const result = parseConfig(text, env, SOURCE)
  if (result.ok) {
    t.fail(`expected errors, the config was accepted: ${JSON.stringify(result.config)}`)
    return []
  }
  return result.errors
}

t.test('a config with only plans gets every default', async (t) => {
  const config = accepted(t, PLANS)
  // strictSame: no key more (upstream and redis stay absent), no key less.
  t.strictSame(config, {
    listen: { proxy: '0.0.0.0:8080', admin: '0.0.0.0:9464' },
    on_redis_error: 'allow',
    max_checks_in_flight: 1000,
    trust_proxy: false,
    log_level: 'info',
    api_key: { header: 'x-api-key', unknown: 'reject' },
    algorithm: 'gcra',
    plans: { free: [{ max: 5, per: '1s' }] },
    keys: [],
    routes: [],
    shadow: false,
    decision: { deny_status: 429 },
    access_log: true,
    shutdown: { grace: '30s', drain_delay: '5s' },
    upstream_health: { interval: '5s', timeout: '1s' },
    admin: {},
    server: { headers_timeout: '10s', request_timeout: '5m', keep_alive_timeout: '72s', max_connections: 10000 }
  })
})

t.test('a half-filled section gets the defaults of its other fields', async (t) => {
  const config = accepted(t, `${PLANS}listen: { proxy: 127.0.0.1:1 }\napi_key: { unknown: anonymous }\nshutdown: { grace: 1s }\n`)
  t.strictSame(config.listen, { proxy: '127.0.0.1:1', admin: '0.0.0.0:9464' })
  t.strictSame(config.api_key, { header: 'x-api-key', unknown: 'anonymous' })
  t.strictSame(config.shutdown, { grace: '1s', drain_delay: '5s' })
})

t.test('route defaults: limit true, cost 1', async (t) => {
  const config = accepted(t, `${PLANS}routes: [ { match: "GET /x" } ]\n`)
  t.strictSame(config.routes, [{ match: 'GET /x', limit: true, cost: 1 }])
})

t.test('upstream and redis', async (t) => {
  t.test('shorthand URLs get the default timeouts', async (t) => {
    const config = accepted(t, `${PLANS}upstream: http://127.0.0.1:3000\nredis: redis://127.0.0.1:6379\n`)
    t.strictSame(config.upstream, { url: 'http://127.0.0.1:3000', timeout: '30s' })
    t.strictSame(config.redis, { url: 'redis://127.0.0.1:6379', timeout: '250ms' })
  })

  t.test('long forms keep their own timeouts', async (t) => {
    const config = accepted(t, `${PLANS}upstream: { url: "https://app.internal/base", timeout: 5s }\nredis: { url: "rediss://:pw@cache:6380/2", timeout: 1s }\n`)
    t.strictSame(config.upstream, { url: 'https://app.internal/base', timeout: '5s' })
    t.strictSame(config.redis, { url: 'rediss://:pw@cache:6380/2', timeout: '1s' })
  })

  t.test('long forms without a timeout get the default', async (t) => {
    const config = accepted(t, `${PLANS}upstream: { url: "http://127.0.0.1:3000" }\nredis: { url: "redis://r:6379" }\n`)
    t.equal(config.upstream?.timeout, '30s')
    t.equal(config.redis?.timeout, '250ms')
  })

  t.test('a shorthand is checked like the long form, at the url path', async (t) => {
    t.strictSame(rejected(t, `${PLANS}upstream: ftp://app\nredis: http://cache:6379\n`), [
      'upstream.url: "ftp://app" must be an http:// or https:// URL',
      'redis.url: (value hidden) must be a redis:// or rediss:// URL'
    ])
  })

  t.test('long forms reject unknown keys and bad timeouts', async (t) => {
    t.strictSame(rejected(t, `${PLANS}upstream: { url: "http://a", timeot: 5s }\nredis: { url: "redis://r", timeout: soon }\n`), [
      'upstream.timeot: is not a known key',
      `redis.timeout: "soon" ${NOT_A_DURATION}`
    ])
  })
})

t.test('${ENV_VAR} expansion', async (t) => {
  t.test('set variables are substituted anywhere in any string value', async (t) => {
    const config = accepted(t, `plans:
  free: [ { max: 5, per: "\${WINDOW}" } ]
redis: "redis://:\${REDIS_PASSWORD}@\${REDIS_HOST}:6379"
upstream: { url: "http://127.0.0.1:\${APP_PORT}" }
`, { WINDOW: '10s', REDIS_PASSWORD: 's3cr3t', REDIS_HOST: 'cache', APP_PORT: '3000' })
    t.equal(config.plans.free?.[0]?.per, '10s')
    t.equal(config.redis?.url, 'redis://:s3cr3t@cache:6379')
    t.equal(config.upstream?.url, 'http://127.0.0.1:3000')
  })

  t.test('an unset variable is one error naming it and its path', async (t) => {
    // The emptied URL would fail its pattern too; that second error must not be shown.
    t.strictSame(rejected(t, `${PLANS}redis: "\${REDIS_URL}"\n`), ['redis.url: environment variable REDIS_URL is not set'])
    t.strictSame(rejected(t, `${PLANS}redis: "redis://:\${REDIS_PASSWORD}@cache:6379"\n`, { REDIS_HOST: 'x' }), [
      'redis.url: environment variable REDIS_PASSWORD is not set'
    ])
    t.strictSame(rejected(t, 'plans:\n  free: [ { max: 5, per: "${WINDOW}" } ]\n'), [
      'plans.free[0].per: environment variable WINDOW is not set'
    ])
  })

  t.test('regression: an unset variable in a list does not also fail the list', async (t) => {
    t.strictSame(rejected(t, `${PLANS}trust_proxy: [ "\${LB_CIDR}" ]\n`), ['trust_proxy[0]: environment variable LB_CIDR is not set'])
  })

  t.test('every unset variable is named, and unrelated errors are still reported', async (t) => {
    t.strictSame(rejected(t, `${PLANS}upstream: "\${APP_URL}"\nredis: "\${REDIS_URL}"\nshadow: maybe\n`), [
      'upstream.url: environment variable APP_URL is not set',
      'redis.url: environment variable REDIS_URL is not set',
      'shadow: "maybe" must be boolean'
    ])
  })

  t.test('a variable set to the empty string is set: the value is then checked', async (t) => {
    t.strictSame(rejected(t, `${PLANS}redis: "\${REDIS_URL}"\n`, { REDIS_URL: '' }), [
      'redis.url: (value hidden) must be a redis:// or rediss:// URL'
    ])
  })
})

t.test('durations', async (t) => {
  t.test('0s is accepted where zero makes sense', async (t) => {
    const config = accepted(t, `${PLANS}shutdown: { grace: 0s, drain_delay: 0s }\n`)
    t.equal(config.shutdown.grace, '0s')
    t.equal(config.shutdown.drain_delay, '0s')
  })
  for (const per of ['500ms', '30s', '5m', '1h', '1d']) {
    t.test(`${per} is accepted`, async (t) => {
      const config = accepted(t, `plans:\n  free: [ { max: 5, per: ${per} } ]\n`)
      t.equal(config.plans.free?.[0]?.per, per)
    })
  }

  t.test('durationMs converts every unit', async (t) => {
    t.equal(durationMs('0s'), 0)
    t.equal(durationMs('500ms'), 500)
    t.equal(durationMs('30s'), 30_000)
    t.equal(durationMs('5m'), 300_000)
    t.equal(durationMs('1h'), 3_600_000)
    t.equal(durationMs('1d'), 86_400_000)
  })

  for (const [written, shown] of [['1x', '"1x"'], ['"10"', '"10"'], ['-1s', '"-1s"'], ['1.5s', '"1.5s"'], ['10', '10'], ['1.5', '1.5'], ['" 1s"', '" 1s"']]) {
    t.test(`${written} is not a duration`, async (t) => {
      t.strictSame(rejected(t, `plans:\n  free: [ { max: 5, per: ${written} } ]\n`), [`plans.free[0].per: ${shown} ${NOT_A_DURATION}`])
    })
  }

  t.test('a window of zero is refused, in plans and in route plans', async (t) => {
    t.strictSame(rejected(t, `plans:
  free: [ { max: 5, per: 1s }, { max: 5, per: 0s } ]
routes:
  - { match: "POST /x", plans: { free: [ { max: 1, per: 0ms } ] } }
`), [
      'plans.free[1].per: "0s" must be at least 1ms',
      'routes[0].plans.free[0].per: "0ms" must be at least 1ms'
    ])
  })
})

t.test('unknown keys are errors, at any depth', async (t) => {
  t.strictSame(rejected(t, `${PLANS}bogus: 1\n`), ['bogus: is not a known key'])
  t.strictSame(rejected(t, 'plans:\n  free: [ { max: 5, per: 1s }, { maxx: 5, max: 1, per: 1s } ]\n'), ['plans.free[1].maxx: is not a known key'])
  t.strictSame(rejected(t, `${PLANS}listen: { proxy: "127.0.0.1:1", publik: "0.0.0.0:1" }\n`), ['listen.publik: is not a known key'])
  t.strictSame(rejected(t, `${PLANS}api_key: { headers: x-key }\n`), ['api_key.headers: is not a known key'])
  t.strictSame(rejected(t, `${PLANS}keys: [ { name: a, key: k, plan: free, tier: pro } ]\n`), ['keys[0].tier: is not a known key'])
  t.strictSame(rejected(t, `${PLANS}routes: [ { match: "/x", limits: false } ]\n`), ['routes[0].limits: is not a known key'])
  t.strictSame(rejected(t, `${PLANS}shutdown: { grace: 1s, drain: 1s }\n`), ['shutdown.drain: is not a known key'])
})

t.test('an empty or comment-only file is an error, never "no keys"', async (t) => {
  for (const text of ['', '\n\n', '# nothing here yet\n', '---\n', '   \n# a\n']) {
    t.strictSame(rejected(t, text), [`${SOURCE}: the file is empty`], JSON.stringify(text))
  }
})

t.test('the source names the file in file-level errors', async (t) => {
  t.strictSame(parseConfig('', {}, '/etc/tollgate/config.yml'), { ok: false, errors: ['/etc/tollgate/config.yml: the file is empty'] })
  t.strictSame(parseConfig('', {}), { ok: false, errors: ['config.yml: the file is empty'] }, 'config.yml by default')
})

t.test('invalid YAML gives file:line:col', async (t) => {
  t.strictSame(rejected(t, 'plans:\n\tfree: []\n'), [`${SOURCE}:2:1: Tabs are not allowed as indentation`])
  const unclosed = rejected(t, 'plans:\n  free: [ { max: 5, per: 1s }\n')
  t.equal(unclosed.length, 1)
  t.match(unclosed[0], /^test\.yml:3:1: \S/)
  t.notMatch(unclosed[0], /\n/, 'one line, without the source excerpt')
})

t.test('the top level must be a mapping', async (t) => {
  t.strictSame(rejected(t, '- plans\n- keys\n'), [`${SOURCE}: must be a mapping of settings, got a list`])
  t.strictSame(rejected(t, 'plans\n'), [`${SOURCE}: must be a mapping of settings, got string`])
  t.strictSame(rejected(t, '42\n'), [`${SOURCE}: must be a mapping of settings, got number`])
})

t.test('duplicate YAML keys are errors', async (t) => {
  t.strictSame(rejected(t, `${PLANS}shadow: true\nshadow: false\n`), [`${SOURCE}:4:1: Map keys must be unique`])
  t.strictSame(rejected(t, `${PLANS}  free: [ { max: 1, per: 1s } ]\n`), [`${SOURCE}:3:3: Map keys must be unique`])
})

t.test('plans is required and not empty', async (t) => {
  t.strictSame(rejected(t, 'shadow: true\n'), ['plans: is required'])
  const empty = rejected(t, 'plans: {}\n')
  t.equal(empty.length, 1)
  t.match(empty[0], /^plans: /)
  const noWindow = rejected(t, 'plans:\n  free: []\n')
  t.equal(noWindow.length, 1)
  t.match(noWindow[0], /^plans\.free: \[\] /, 'a plan needs a window')
})

t.test('every error in a file is reported at once', async (t) => {
  const errors = rejected(t, `listen:
  proxy: nowhere
upstream: ftp://app
on_redis_error: maybe
plans:
  free: [ { max: 0, per: 1s }, { max: 5, per: 1x } ]
keys:
  - { name: acme, sha256: abc, plan: free }
  - { name: demo, key: demo-key, plan: gold }
bogus: 1
shadow: yes
`)
  t.strictSame(errors, [
    'bogus: is not a known key',
    'listen.proxy: "nowhere" must be HOST:PORT, e.g. 0.0.0.0:8080',
    'upstream.url: "ftp://app" must be an http:// or https:// URL',
    'on_redis_error: "maybe" must be one of allow, deny, local',
    'plans.free[0].max: 0 must be at least 1',
    `plans.free[1].per: "1x" ${NOT_A_DURATION}`,
    'keys[0].sha256: "abc" is not 64 hex characters (use `tollgate hash-key KEY`)',
    'shadow: "yes" must be boolean',
    // A cross-check, reported in the same pass as the schema's errors.
    'keys[1].plan: "gold" is not a plan in plans (free)'
  ])
})

t.test('cross-checks', async (t) => {
  const plans = 'plans:\n  free: [ { max: 5, per: 1s } ]\n  pro: [ { max: 50, per: 1s } ]\n'
  const a = sha256('key-a')

  t.test('a key on an unknown plan', async (t) => {
    t.strictSame(rejected(t, `${plans}keys: [ { name: acme, sha256: "${a}", plan: gold } ]\n`), [
      'keys[0].plan: "gold" is not a plan in plans (free, pro)'
    ])
  })

  t.test('a key needs exactly one of sha256 and key', async (t) => {
    t.strictSame(rejected(t, `${plans}keys:
  - { name: acme, plan: free }
  - { name: beta, sha256: "${a}", key: key-a, plan: free }
`), ['keys[0]: needs exactly one of sha256 or key', 'keys[1]: needs exactly one of sha256 or key'])
  })

  t.test('two keys with one name', async (t) => {
    t.strictSame(rejected(t, `${plans}keys:
  - { name: acme, sha256: "${a}", plan: free }
  - { name: acme, sha256: "${sha256('key-b')}", plan: pro }
`), ['keys[1].name: "acme" is used by another key'])
  })

  t.test('one key listed twice', async (t) => {
    t.strictSame(rejected(t, `${plans}keys:
  - { name: acme, sha256: "${a}", plan: free }
  - { name: beta, sha256: "${a.toUpperCase()}", plan: pro }
`), ['keys[1].sha256: the same key is listed twice'], 'sha256 compared without case')
  })

  t.test('regression: a clear key and its sha256 are the same key', async (t) => {
    t.strictSame(rejected(t, `${plans}keys:
  - { name: acme, key: key-a, plan: free }
  - { name: beta, sha256: "${a}", plan: pro }
  - { name: gamma, key: key-a, plan: pro }
`), ['keys[1].sha256: the same key is listed twice', 'keys[2].key: the same key is listed twice'])
  })

  t.test('reserved names', async (t) => {
    t.strictSame(rejected(t, `${plans}keys:
  - { name: anonymous, sha256: "${a}", plan: free }
  - { name: unknown, key: key-b, plan: free }
`), ['keys[0].name: "anonymous" is reserved', 'keys[1].name: "unknown" is reserved'])
  })

  t.test('route plans must be plans', async (t) => {
    t.strictSame(rejected(t, `${plans}routes:
  - { match: "POST /v1/search", plans: { free: [ { max: 1, per: 10s } ], gold: [ { max: 1, per: 1s } ] } }
`), ['routes[0].plans.gold: "gold" is not a plan in plans'])
  })

  t.test('a valid set of keys and routes passes', async (t) => {
    const config = accepted(t, `${plans}keys:
  - { name: acme, sha256: "${a}", plan: pro }
  - { name: demo, key: demo-key, plan: free }
routes:
  - { match: "GET /healthz", limit: false }
  - { match: "POST /v1/upload/*", cost: 10 }
  - { match: "POST /v1/search", plans: { free: [ { max: 1, per: 10s } ] } }
`)
    t.equal(config.keys.length, 2)
    t.strictSame(config.routes[2]?.plans, { free: [{ max: 1, per: '10s' }] })
  })
})

t.test('a port above 65535 is refused before listen() would throw', async (t) => {
  t.strictSame(rejected(t, `${PLANS}listen: { proxy: "127.0.0.1:8080", admin: "127.0.0.1:99999" }\n`), [
    'listen.admin: "127.0.0.1:99999" has a port above 65535'
  ])
  t.strictSame(accepted(t, `${PLANS}listen: { proxy: "[::1]:65535", admin: ":0" }\n`).listen, { proxy: '[::1]:65535', admin: ':0' })
})

t.test('enum errors list the choices', async (t) => {
  t.strictSame(rejected(t, `${PLANS}on_redis_error: maybe\n`), ['on_redis_error: "maybe" must be one of allow, deny, local'])
  t.strictSame(rejected(t, `${PLANS}algorithm: leaky\n`), ['algorithm: "leaky" must be one of gcra, sliding, fixed'])
  t.strictSame(rejected(t, 'plans:\n  free: [ { max: 5, per: 1s, algorithm: leaky } ]\n'), ['plans.free[0].algorithm: "leaky" must be one of gcra, sliding, fixed'])
  t.strictSame(rejected(t, `${PLANS}log_level: loud\n`), ['log_level: "loud" must be one of fatal, error, warn, info, debug, trace, silent'])
  t.strictSame(rejected(t, `${PLANS}api_key: { unknown: allow }\n`), ['api_key.unknown: "allow" must be one of reject, anonymous'])
  for (const choice of ['allow', 'deny', 'local']) {
    t.equal(accepted(t, `${PLANS}on_redis_error: ${choice}\n`).on_redis_error, choice)
  }
})

t.test('trust_proxy', async (t) => {
  t.equal(accepted(t, `${PLANS}trust_proxy: true\n`).trust_proxy, true)
  t.equal(accepted(t, `${PLANS}trust_proxy: false\n`).trust_proxy, false)
  t.strictSame(accepted(t, `${PLANS}trust_proxy: [ 10.0.0.0/8, "::1", 192.168.1.7, loopback ]\n`).trust_proxy, ['10.0.0.0/8', '::1', '192.168.1.7', 'loopback'])

  const choices = 'must be true, false or a list of addresses / CIDR ranges'
  t.strictSame(rejected(t, `${PLANS}trust_proxy: yes\n`), [`trust_proxy: "yes" ${choices}`], 'YAML 1.2: yes is a string')
  t.strictSame(rejected(t, `${PLANS}trust_proxy: 1\n`), [`trust_proxy: 1 ${choices}`])
  t.strictSame(rejected(t, `${PLANS}trust_proxy: 10.0.0.0/8\n`), [`trust_proxy: "10.0.0.0/8" ${choices}`], 'one address still needs a list')
  t.strictSame(rejected(t, `${PLANS}trust_proxy: [ 10.0.0.1/33, lb.internal ]\n`), [
    'trust_proxy[0]: "10.0.0.1/33" is not an IP address, a CIDR range, loopback, linklocal or uniquelocal',
    'trust_proxy[1]: "lb.internal" is not an IP address, a CIDR range, loopback, linklocal or uniquelocal'
  ])
})

t.test('clear-text keys are accepted with a warning that does not repeat the key', async (t) => {
  const result = parseConfig(`${PLANS}keys:
  - { name: demo, key: demo-secret-key, plan: free }
  - { name: acme, sha256: "${sha256('acme-key')}", plan: free }
`, {}, SOURCE)
  if (!result.ok) throw new Error(result.errors.join('\n'))
  t.strictSame(result.warnings, ['key "demo" is in clear text in the config; store its sha256 instead (tollgate hash-key)'])
  t.notMatch(result.warnings.join('\n'), 'demo-secret-key')

  const hashed = parseConfig(`${PLANS}keys: [ { name: acme, sha256: "${sha256('acme-key')}", plan: free } ]\n`, {}, SOURCE)
  t.strictSame(hashed.ok && hashed.warnings, [], 'no warning when every key is a digest')
})

t.test('the hash', async (t) => {
  const hashOf = (text: string, source = SOURCE): string => {
    const result = parseConfig(text, {}, source)
    if (!result.ok) throw new Error(result.errors.join('\n'))
    return result.hash
  }
  const first = hashOf(PLANS)
  t.match(first, /^[0-9a-f]{12}$/)
  t.equal(hashOf(PLANS), first, 'same text, same hash')
  t.equal(hashOf(PLANS, 'elsewhere.yml'), first, 'the file name does not matter')
  t.not(hashOf('plans:\n  free: [ { max: 6, per: 1s } ]\n'), first, 'another limit')
  t.not(hashOf(`${PLANS}# a comment\n`), first, 'any change to the text')
})

t.test('a secret value is never quoted in an error: a bad clear key, a bad Redis URL with its password', async (t) => {
  const result = parseConfig(`${PLANS}redis: "http://:hunter2@cache:6379"\nkeys: [ { name: acme, key: "sk live spaces", plan: free } ]\n`, {}, SOURCE)
  t.equal(result.ok, false)
  const errors = result.ok ? [] : result.errors
  t.ok(errors.includes('redis.url: (value hidden) must be a redis:// or rediss:// URL'), errors.join('\n'))
  t.ok(errors.includes('keys[0].key: (value hidden) must be 1 to 256 visible ASCII characters, no comma'), errors.join('\n'))
  t.notMatch(errors.join('\n'), /hunter2|sk live/)
})

t.test('a plan name outside the name pattern is an error, and its windows are still checked', async (t) => {
  // Regression: TypeBox's Record only sets patternProperties, so such a plan passed
  // with its windows unchecked (max: 0 reached the store and failed every request).
  const errors = rejected(t, 'plans:\n  "bad name": [ { max: 0, per: 1s } ]\n  ok: [ { max: 1, per: 1s } ]\n')
  t.match(errors, [/^plans\.bad name: is not a valid name \(it must match /])
})
