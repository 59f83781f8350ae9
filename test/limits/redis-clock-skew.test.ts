import { existsSync } from 'node:fs'
import t from 'tap'
import { startTollgate } from '../helpers/child'
import { get } from '../helpers/http'
import { startRedis } from '../helpers/redis'
import { LISTEN } from '../helpers/stack'
import { startUpstream } from '../helpers/upstream'

// Two tollgate processes share one Redis, one of them an hour and a half ahead under
// faketime: the windows are Redis' (the script reads TIME), so between them they admit
// exactly the plan's max, as two processes on one clock do.

const LIBFAKETIME = '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1'
const MAX = 10

t.test('a replica with its clock 90 minutes off counts in the same windows', { skip: existsSync(LIBFAKETIME) ? false : `faketime is not installed (${LIBFAKETIME}; apt-get install faketime)` }, async (t) => {
  const [redis, upstream] = await Promise.all([startRedis(t), startUpstream(t)])
  const config = `${LISTEN}
upstream: ${upstream.url}
redis: ${redis.url}
plans: { free: [ { max: ${MAX}, per: 1h, algorithm: fixed }, { max: ${MAX}, per: 1h, algorithm: gcra }, { max: ${MAX}, per: 1h, algorithm: sliding } ] }
keys: [ { name: acme, key: acme-key, plan: free } ]`
  const [honest, skewed] = await Promise.all([
    startTollgate(t, { configYaml: config }),
    startTollgate(t, { configYaml: config, env: { LD_PRELOAD: LIBFAKETIME, FAKETIME: '+90m', FAKETIME_DONT_RESET: '1' } })
  ])
  const skewedTime = Date.parse(String(skewed.logs()[0]?.time))
  t.ok(skewedTime - Date.now() > 80 * 60_000, `the skewed process logs ${new Date(skewedTime).toISOString()}: its clock is ahead`)
  const statuses: number[] = []
  for (let i = 0; i < 2 * MAX; i++) {
    const res = await get(`${(i % 2 === 0 ? honest : skewed).proxyUrl}/x`, { 'x-api-key': 'acme-key' })
    statuses.push(res.status)
  }
  t.equal(statuses.filter((s) => s === 200).length, MAX, `exactly ${MAX} admitted between the two: ${statuses.join(',')}`)
  t.strictSame(statuses.slice(MAX), Array(MAX).fill(429), 'and every one after refused, by either')
})
