import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import type { Test } from 'tap'
import { startTollgate } from '../helpers/child'
import { get } from '../helpers/http'
import { startRedis } from '../helpers/redis'
import { LISTEN } from '../helpers/stack'
import { startUpstream } from '../helpers/upstream'

// Regression: limits came back 2.5–3.8 s after Redis did, and a 5 s pause of Redis left
// about 9 s unlimited: the breaker's pause between probes doubled up to 5 s and the
// client's reconnect back-off reached 2 s. Measured end to end here: the real CLI, a real
// redis-server killed or stopped under it, a client sending a request every 50 ms.
// The bounds are generous (a loaded machine) but below what the old back-offs gave.

// Two outages of several seconds, each with its own children to start: more than the
// 120 s a file gets by default on a loaded machine.
t.setTimeout(300_000)

const RECOVERY_BOUND_MS = 2000
const OUTAGE_MS = 5000
// Long enough that the old doubling pause (0.5, 1, 2, 4 s) had grown past the bound.
const PAUSE_MS = 7000

async function start (t: Test) {
  const redis = await startRedis(t)
  const upstream = await startUpstream(t)
  const tollgate = await startTollgate(t, {
    configYaml: `${LISTEN}
upstream: ${upstream.url}
redis: ${redis.url}
on_redis_error: allow
plans: { free: [ { max: 1, per: 1h } ] }
keys: [ { name: acme, key: acme-key, plan: free }, { name: beta, key: beta-key, plan: free } ]`
  })
  return { redis, tollgate }
}

/** Sends a request every 50 ms until one is refused with 429; resolves when that one was sent. */
async function firstRefusal (url: string, deadlineMs: number, key = 'acme-key'): Promise<number | undefined> {
  const until = Date.now() + deadlineMs
  while (Date.now() < until) {
    const sent = Date.now()
    const res = await get(url, { 'x-api-key': key })
    if (res.status === 429) return sent
    await sleep(50)
  }
  return undefined
}

/** Keeps traffic flowing through the outage, as a real client would: the breaker sees it. */
async function trafficFor (url: string, ms: number, key = 'acme-key'): Promise<number[]> {
  const statuses: number[] = []
  const until = Date.now() + ms
  while (Date.now() < until) {
    statuses.push((await get(url, { 'x-api-key': key })).status)
    await sleep(50)
  }
  return statuses
}

t.test(`Redis killed for ${OUTAGE_MS / 1000} s and restarted: limits are back within ${RECOVERY_BOUND_MS} ms`, async (t) => {
  const { tollgate, redis } = await start(t)
  const url = `${tollgate.proxyUrl}/r`
  await redis.kill()
  const during = await trafficFor(url, OUTAGE_MS)
  t.ok(during.every((s) => s === 200), 'allow: served while Redis is down')
  await redis.restart()
  const back = Date.now()
  // The fresh Redis is empty: its first check allows and spends the one unit, the next is refused.
  const refused = await firstRefusal(url, 15_000)
  t.not(refused, undefined, 'a 429 came back')
  const ms = (refused ?? Infinity) - back
  t.comment(`restart → first 429: ${ms} ms`)
  t.ok(ms < RECOVERY_BOUND_MS, `limits back ${ms} ms after Redis`)
})

t.test(`Redis stopped (SIGSTOP) for ${PAUSE_MS / 1000} s: limits are back within ${RECOVERY_BOUND_MS} ms of SIGCONT`, async (t) => {
  const { tollgate, redis } = await start(t)
  const url = `${tollgate.proxyUrl}/p`
  t.equal((await get(url, { 'x-api-key': 'acme-key' })).status, 200)
  t.equal((await get(url, { 'x-api-key': 'acme-key' })).status, 429, 'the key is spent before the pause')
  redis.pause()
  t.teardown(() => redis.resume())
  const paused = Date.now()
  // beta, which spent nothing, goes by on_redis_error; acme, whose refusal Redis gave
  // before the hang, stays refused from tollgate's memory (src/limits/refusal-cache.ts):
  // an outage is no free pass for a client already over its limit.
  const [during, spent] = await Promise.all([trafficFor(url, PAUSE_MS, 'beta-key'), trafficFor(url, PAUSE_MS)])
  t.ok(during.every((s) => s === 200), 'allow: served while Redis hangs')
  t.ok(spent.length > 0 && spent.every((s) => s === 429), 'the spent key: still refused while Redis hangs')
  redis.resume()
  const back = Date.now()
  // beta's first check after SIGCONT spends its one unit, the next is refused.
  const refused = await firstRefusal(url, 15_000, 'beta-key')
  t.not(refused, undefined, 'a 429 came back')
  const ms = (refused ?? Infinity) - back
  t.comment(`SIGCONT → first 429: ${ms} ms; unlimited for ${(refused ?? Infinity) - paused} ms in all`)
  t.ok(ms < RECOVERY_BOUND_MS, `limits back ${ms} ms after Redis`)
})
