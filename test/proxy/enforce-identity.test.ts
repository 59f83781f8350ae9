import { createHash } from 'node:crypto'
import Redis from 'ioredis'
import t from 'tap'
import { get } from '../helpers/http'
import { stack, forwarded } from '../helpers/stack'

// Who is calling: keys by header and Bearer, anonymous callers by IP, refusals,
// and the key kept out of logs and Redis.

t.test('identity: header and Bearer keys, unknown, malformed and missing keys', async (t) => {
  const { upstream, tollgate } = await stack(t, (up, redis) => `
upstream: ${up}
redis: ${redis}
trust_proxy: true
plans:
  anonymous: [ { max: 2, per: 1m } ]
  pro: [ { max: 100, per: 1m } ]
keys: [ { name: acme, sha256: "${createHash('sha256').update('acme-key').digest('hex')}", plan: pro } ]`)
  const url = `${tollgate.proxyUrl}/who`
  const viaHeader = await get(url, { 'x-api-key': 'acme-key' })
  t.equal(viaHeader.status, 200)
  t.equal(viaHeader.headers['x-ratelimit-limit'], '100', 'the key got its plan')
  const viaBearer = await get(url, { authorization: 'Bearer acme-key' })
  t.equal(viaBearer.status, 200)
  t.equal(viaBearer.headers['x-ratelimit-remaining'], '98', 'Bearer spends the same budget')
  const seen = upstream.requests.filter((r) => r.url === '/who').map((r) => [r.headers['x-tollgate-client'], r.headers['x-tollgate-plan']])
  t.same(seen, [['acme', 'pro'], ['acme', 'pro']], 'the app learns who called')

  const unknown = await get(url, { 'x-api-key': 'nope' })
  t.equal(unknown.status, 401)
  t.equal((unknown.json() as { error: string }).error, 'invalid_api_key')
  const tooLong = await get(url, { 'x-api-key': 'k'.repeat(257) })
  t.equal(tooLong.status, 400)
  t.equal((tooLong.json() as { error: string }).error, 'malformed_api_key')
  const notAscii = await get(url, { 'x-api-key': 'caf\u00e9-key' })
  t.equal(notAscii.status, 400, 'non-ASCII key is refused before any lookup')
  t.equal(forwarded(upstream, '/who'), 2, 'nothing refused reached the app')

  // No key: the anonymous plan, per client IP (trust_proxy: true believes x-forwarded-for).
  const anon = async (ip: string): Promise<number> => (await get(url, { 'x-forwarded-for': ip })).status
  t.same([await anon('10.0.0.1'), await anon('10.0.0.1'), await anon('10.0.0.1')], [200, 200, 429])
  t.equal(await anon('10.0.0.2'), 200, 'another IP has its own budget')
  const anonSeen = upstream.requests.filter((r) => r.url === '/who').at(-1)
  t.equal(anonSeen?.headers['x-tollgate-client'], 'anonymous')
})

t.test('no key and no anonymous plan → 401 api_key_required', async (t) => {
  const { upstream, tollgate } = await stack(t, (up) => `
upstream: ${up}
plans: { pro: [ { max: 100, per: 1m } ] }
keys: [ { name: acme, key: acme-key, plan: pro } ]`)
  const res = await get(`${tollgate.proxyUrl}/x`)
  t.equal(res.status, 401)
  t.equal((res.json() as { error: string }).error, 'api_key_required')
  t.equal(forwarded(upstream, '/x'), 0)
})

t.test('the raw key appears in no log line and no Redis key name', async (t) => {
  const secret = 'sk_live_TOPSECRET_1234567890'
  const { tollgate, redisUrl } = await stack(t, (up, redis) => `
upstream: ${up}
redis: ${redis}
plans: { free: [ { max: 1, per: 1m } ] }
keys: [ { name: acme, key: ${secret}, plan: free } ]`)
  await get(`${tollgate.proxyUrl}/s`, { 'x-api-key': secret })
  await get(`${tollgate.proxyUrl}/s`, { authorization: `Bearer ${secret}` })
  await get(`${tollgate.proxyUrl}/s`, { 'x-api-key': `${secret}-wrong` })
  await tollgate.waitForLog((l) => l.status === 401)
  t.notMatch(tollgate.stdout() + tollgate.stderr(), 'TOPSECRET', 'no log line carries the key')
  const client = new Redis(redisUrl)
  t.teardown(() => client.disconnect())
  const keys = await client.keys('*')
  t.ok(keys.length > 0, 'state was written')
  t.ok(keys.every((k) => k.startsWith('tollgate:{acme}:')), `keys are named by client: ${keys.join(', ')}`)
  t.notMatch(keys.join(' '), 'TOPSECRET')
})

t.test('api_key.unknown: anonymous treats an unknown key as an anonymous caller', async (t) => {
  const { upstream, tollgate } = await stack(t, (up) => `
upstream: ${up}
api_key: { unknown: anonymous }
plans:
  anonymous: [ { max: 1, per: 1m } ]
  pro: [ { max: 100, per: 1m } ]
keys: [ { name: acme, key: acme-key, plan: pro } ]`)
  const first = await get(`${tollgate.proxyUrl}/u`, { 'x-api-key': 'not-a-known-key' })
  t.equal(first.status, 200)
  t.equal(first.headers['x-ratelimit-limit'], '1', 'the anonymous plan applies')
  t.equal(upstream.requests.at(-1)?.headers['x-tollgate-client'], 'anonymous')
  t.equal((await get(`${tollgate.proxyUrl}/u`)).status, 429, 'and it shares the per-IP budget of callers without a key')
  t.equal((await get(`${tollgate.proxyUrl}/u`, { 'x-api-key': 'acme-key' })).status, 200, 'known keys are unaffected')
})
