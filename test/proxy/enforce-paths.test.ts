import t from 'tap'
import { rawExchange } from '../helpers/raw'
import { stack } from '../helpers/stack'

// Issue 9's own repro of finding 1, on the real CLI against Redis: the bypasses it
// reported are limited, charged or refused (test/proxy/paths.test.ts has the whole class).

t.test('the reported route bypasses, against Redis', async (t) => {
  const { upstream, tollgate } = await stack(t, (up, redis) => `
upstream: ${up}
redis: ${redis}
plans: { free: [ { max: 100, per: 1m } ] }
keys: [ { name: acme, key: acme-key, plan: free }, { name: beta, key: beta-key, plan: free } ]
routes:
  - { match: "GET /expensive", plans: { free: [ { max: 2, per: 1m } ] } }
  - { match: "POST /upload/*", cost: 10 }
  - { match: "GET /public/*", limit: false }`)
  const port = Number(new URL(tollgate.proxyUrl).port)
  const send = async (method: string, target: string, key?: string): Promise<{ status: number, remaining?: string }> => {
    const res = await rawExchange(port, `${method} ${target} HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-length: 0\r\n${key === undefined ? '' : `x-api-key: ${key}\r\n`}\r\n`)
    return { status: res.status, remaining: res.headers['x-ratelimit-remaining'] }
  }

  for (let i = 0; i < 3; i++) await send('GET', '/expensive', 'acme-key')
  const escapes = await Promise.all(['http://x/expensive', '/./expensive'].map(async (target) => (await send('GET', target, 'acme-key')).status))
  t.same([...escapes, (await send('HEAD', '/expensive', 'acme-key')).status], [429, 429, 429], 'the extra window holds')

  t.same([(await send('POST', 'http://x/upload/a', 'beta-key')).remaining, (await send('POST', '//upload/a', 'beta-key')).remaining],
    ['90', '80'], 'the cost is charged')

  t.same([(await send('GET', '/public/../expensive')).status, (await send('GET', '/public/%2e%2e/expensive')).status],
    [401, 401], 'no way in without a key')
  t.notOk(upstream.requests.some((r) => r.url.includes('..') || r.url.startsWith('//') || r.url.startsWith('http')),
    'the app only ever got normalised paths')
})
