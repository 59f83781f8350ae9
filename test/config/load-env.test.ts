import t from 'tap'
import { accepted, rejected, PLANS } from './load-kit'

// ${ENV_VAR} expansion in parseConfig (load-kit.ts has the helpers).

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
