import t from 'tap'
import { startTollgate } from '../helpers/child'
import { get } from '../helpers/http'
import { startRedis } from '../helpers/redis'
import { LISTEN } from '../helpers/stack'
import { startUpstream, type EchoBody } from '../helpers/upstream'
import { reloadTo, sha256 } from '../helpers/live'

// Who is who and how much is left, changed in the running process through the real
// CLI: trust_proxy names anonymous callers, and a raised plan keeps what was spent.

const ACME_KEY = 'acme-limits-key-8e21'

t.test('trust_proxy false → true: x-forwarded-for names anonymous callers, forwarded headers are kept', async (t) => {
  const upstream = await startUpstream(t)
  const base = `${LISTEN}
upstream: ${upstream.url}
plans: { anonymous: [ { max: 1, per: 1h } ] }
`
  const tollgate = await startTollgate(t, { configYaml: base })
  const from = (ip: string): Record<string, string> => ({ 'x-forwarded-for': ip, 'x-forwarded-proto': 'https' })

  const first = await get(`${tollgate.proxyUrl}/a`, from('203.0.113.7'))
  t.equal(first.status, 200)
  t.equal((first.json() as EchoBody).headers['x-forwarded-proto'], 'http', 'untrusted: our own proto')
  t.equal((await get(`${tollgate.proxyUrl}/a`, from('203.0.113.8'))).status, 429, 'untrusted: both are 127.0.0.1, one budget')

  await reloadTo(tollgate, `${base}trust_proxy: true\n`)
  const seven = await get(`${tollgate.proxyUrl}/b`, from('203.0.113.7'))
  t.equal(seven.status, 200, 'trusted: 203.0.113.7 has its own budget')
  t.equal((seven.json() as EchoBody).headers['x-forwarded-proto'], 'https', 'trusted: the proxy\'s proto is kept')
  t.equal((await get(`${tollgate.proxyUrl}/b`, from('203.0.113.8'))).status, 200, 'and 203.0.113.8 its own')
  t.equal((await get(`${tollgate.proxyUrl}/b`, from('203.0.113.7'))).status, 429, '203.0.113.7 spent its one')

  await reloadTo(tollgate, `${base}trust_proxy: [ 10.0.0.0/8 ]\n`)
  t.equal((await get(`${tollgate.proxyUrl}/c`, from('203.0.113.9'))).status, 429, 'loopback no longer trusted: back to one budget for 127.0.0.1')
})

for (const store of ['redis', 'memory'] as const) {
  t.test(`raising a plan's max keeps what was spent in the window (${store} store)`, async (t) => {
    const upstream = await startUpstream(t)
    const redis = store === 'redis' ? `redis: ${(await startRedis(t)).url}\n` : ''
    const withMax = (max: number): string => `${LISTEN}
upstream: ${upstream.url}
${redis}plans: { free: [ { max: ${max}, per: 1h } ] }
keys: [ { name: acme, sha256: "${sha256(ACME_KEY)}", plan: free } ]
`
    const tollgate = await startTollgate(t, { configYaml: withMax(2) })
    const spend = async (n: number): Promise<number[]> => {
      const statuses: number[] = []
      for (let i = 0; i < n; i++) statuses.push((await get(`${tollgate.proxyUrl}/spend`, { 'x-api-key': ACME_KEY })).status)
      return statuses
    }
    t.strictSame(await spend(3), [200, 200, 429], 'spent 2 of 2')
    await reloadTo(tollgate, withMax(5))
    const more = await spend(4)
    t.strictSame(more, [200, 200, 200, 429], 'raised to 5: exactly 3 more, not a fresh 5')
    t.equal(upstream.requests.filter((r) => r.url === '/spend').length, 5, 'the app saw 5 in all')
    // Lowered below what was spent: refused at once, without losing the count.
    await reloadTo(tollgate, withMax(3))
    t.strictSame(await spend(1), [429], 'lowered to 3 with 5 spent: refused')
  })
}
