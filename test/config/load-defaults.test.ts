import t from 'tap'
import { accepted, NOT_A_DURATION, PLANS, rejected } from './load-kit'

// parseConfig's defaults, and the short and long forms of upstream and redis (load-kit.ts has the helpers).

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
