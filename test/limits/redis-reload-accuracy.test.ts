import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import type { Test } from 'tap'
import type { Algorithm } from '../../src/limits/types'
import { startTollgate, type Tollgate } from '../helpers/child'
import { get } from '../helpers/http'
import { reloadTo, sha256 } from '../helpers/live'
import { startRedis } from '../helpers/redis'
import { startCluster } from '../helpers/redis-cluster'
import { LISTEN } from '../helpers/stack'
import { startUpstream, type Upstream } from '../helpers/upstream'
import { ALGORITHMS } from './store-harness'

/*
 * A plan's max lowered and raised mid-window by a live reload (the config file edited
 * under two running tollgate processes on one Redis) keeps what was spent: 15 of 20
 * spent, lowered to 10 → refused by either process; raised to 30 → exactly 15 more,
 * across both. Once per algorithm, each on its own key. On a cluster too with
 * TOLLGATE_ACCURACY=1.
 */

const FULL = process.env.TOLLGATE_ACCURACY === '1'
const HOUR_MS = 3_600_000
/** Far more than the test takes: a fixed or sliding hour must not turn over during it. */
const BOUNDARY_MARGIN_MS = 60_000

const keyOf = (algorithm: Algorithm): string => `reload-${algorithm}-key-5d1c`

const config = (upstream: string, redis: string, max: number): string => `${LISTEN}
upstream: ${upstream}
redis: ${redis}
on_redis_error: deny
plans:
${ALGORITHMS.map((a) => `  ${a}: [ { max: ${max}, per: 1h, algorithm: ${a} } ]`).join('\n')}
keys:
${ALGORITHMS.map((a) => `  - { name: ${a}, sha256: "${sha256(keyOf(a))}", plan: ${a} }`).join('\n')}
`

/** `n` requests for `algorithm`'s key, alternating between the processes: status and x-ratelimit-limit of each. */
async function spend (tollgates: readonly Tollgate[], algorithm: Algorithm, n: number): Promise<Array<{ status: number, limit: string }>> {
  const answers = []
  for (let i = 0; i < n; i++) {
    const tg = tollgates[i % tollgates.length]
    if (tg === undefined) throw new Error('no tollgate')
    const res = await get(`${tg.proxyUrl}/${algorithm}`, { 'x-api-key': keyOf(algorithm) })
    answers.push({ status: res.status, limit: String(res.headers['x-ratelimit-limit']) })
  }
  return answers
}

const statuses = (answers: ReadonlyArray<{ status: number }>): number[] => answers.map((a) => a.status)
const forwarded = (upstream: Upstream, algorithm: Algorithm): number => upstream.requests.filter((r) => r.url === `/${algorithm}`).length

async function reloadBoth (tollgates: readonly Tollgate[], text: string): Promise<void> {
  await Promise.all(tollgates.map(async (tg) => await reloadTo(tg, text)))
}

async function lowerAndRaise (t: Test, redis: string): Promise<void> {
  // Wait out an hour's end rather than straddle it (at most a minute, one run in 60).
  const toBoundary = HOUR_MS - (Date.now() % HOUR_MS)
  if (toBoundary < BOUNDARY_MARGIN_MS) await sleep(toBoundary + 100)
  const upstream = await startUpstream(t)
  const tollgates = await Promise.all([0, 1].map(async () => await startTollgate(t, { configYaml: config(upstream.url, redis, 20) })))

  for (const a of ALGORITHMS) t.strictSame(statuses(await spend(tollgates, a, 15)), Array(15).fill(200), `${a}: 15 of 20 spent, across both processes`)

  await reloadBoth(tollgates, config(upstream.url, redis, 10))
  for (const a of ALGORITHMS) {
    const answers = await spend(tollgates, a, 4)
    t.strictSame(statuses(answers), [429, 429, 429, 429], `${a}: lowered to 10 with 15 spent, refused by either process`)
    t.ok(answers.every((x) => x.limit === '10'), `${a}: and both enforce the new max (x-ratelimit-limit ${answers.map((x) => x.limit).join(',')})`)
  }

  await reloadBoth(tollgates, config(upstream.url, redis, 30))
  for (const a of ALGORITHMS) {
    const answers = await spend(tollgates, a, 18)
    t.strictSame(statuses(answers), [...Array(15).fill(200), 429, 429, 429], `${a}: raised to 30, exactly 15 more, then refused`)
    t.ok(answers.every((x) => x.limit === '30'), `${a}: both at max 30`)
    t.equal(forwarded(upstream, a), 30, `${a}: the app saw 30 in all, the new max, not 15 + a fresh 30`)
  }
}

t.test('one redis-server: lower then raise max by live reload, 2 processes', async (t) => {
  await lowerAndRaise(t, (await startRedis(t)).url)
})

t.test('a 3-primary cluster: the same', { skip: FULL ? false : 'set TOLLGATE_ACCURACY=1 to run it on a cluster as well' }, async (t) => {
  const cluster = await startCluster(t)
  await lowerAndRaise(t, `{ cluster: [ ${cluster.seeds.map((s) => `"${s}"`).join(', ')} ] }`)
})
