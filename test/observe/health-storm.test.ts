import { connect } from 'node:net'
import t from 'tap'
import { startTollgate } from '../helpers/child'
import { get, type TextResponse } from '../helpers/http'
import { startRedis } from '../helpers/redis'
import { LISTEN } from '../helpers/stack'
import { startUpstream } from '../helpers/upstream'

/*
 * Health results are cached for a second: a storm of probes (a misconfigured load
 * balancer, a dashboard on refresh) costs Redis and the app one check per second, not
 * one per probe. And the cache is short: a change is seen within about two seconds.
 * The real CLI in a child process, a real redis-server, a real upstream whose health
 * path counts its hits.
 */

/**
 * A child transpiles the sources it has not seen yet as it starts: on a loaded machine that
 * alone can pass the helper's 15 s default, and start-up time is not what this file tests.
 */
const READY_TIMEOUT_MS = 60_000

/**
 * How soon a change must show: the rest of one cache second, then one check (~1 s in
 * all), with room for a loaded CI machine. A cache that never expired never gets there.
 */
const SOON_MS = 2500

/** How many PINGs redis-server has answered so far (`INFO commandstats`), over a raw socket. */
async function pingCalls (port: number): Promise<number> {
  const info = await new Promise<string>((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
    let reply = ''
    socket.setTimeout(2000, () => { socket.destroy(); reject(new Error('INFO: no answer')) })
    socket.once('error', reject)
    socket.once('connect', () => socket.write('INFO commandstats\r\n'))
    socket.on('data', (chunk) => {
      reply += chunk.toString()
      // A bulk string: `$LEN\r\n` then LEN bytes then `\r\n`.
      const header = /^\$(\d+)\r\n/.exec(reply)
      if (header !== null && Buffer.byteLength(reply) >= header[0].length + Number(header[1]) + 2) {
        socket.destroy()
        resolve(reply)
      }
    })
  })
  const match = /cmdstat_ping:calls=(\d+)/.exec(info)
  return match === null ? 0 : Number(match[1])
}

t.test('200 concurrent probes cost the app and Redis a handful of checks, and a change is still seen', async (t) => {
  const redis = await startRedis(t)
  const healthGets: number[] = []
  let appStatus = 200
  const upstream = await startUpstream(t, {
    handle: (req, res) => {
      if (req.url !== '/healthz') return false
      healthGets.push(Date.now())
      res.writeHead(appStatus).end()
      return true
    }
  })
  const tg = await startTollgate(t, {
    configYaml: `${LISTEN}
upstream: ${upstream.url}
upstream_health: { path: /healthz, interval: 1s, timeout: 500ms }
redis: ${redis.url}
on_redis_error: deny
plans: { free: [ { max: 1000, per: 1s } ] }`,
    readyTimeoutMs: READY_TIMEOUT_MS
  })

  const pingsBefore = await pingCalls(redis.port)
  const started = Date.now()
  const storm = await Promise.all(Array.from({ length: 200 }, async (_, i) =>
    await get(`${tg.adminUrl}/health/${i % 2 === 0 ? 'full' : 'ready'}`)))
  const ended = Date.now()
  const pingsAfter = await pingCalls(redis.port)
  const pings = pingsAfter - pingsBefore
  const seconds = Math.ceil((ended - started) / 1000)
  const hits = healthGets.filter((at) => at >= started && at <= ended).length

  t.same([...new Set(storm.map((res) => res.status))], [200], 'every probe answered 200')
  t.comment(`storm of 200 probes over ${ended - started} ms: ${hits} health GETs on the app, ${pings} PINGs on Redis (${pingsBefore} → ${pingsAfter})`)
  // One check per cache second, plus the `interval: 1s` probe of tollgate_upstream_up,
  // plus one of each for a storm that straddles a second boundary.
  t.ok(hits >= 1 && hits <= 2 * seconds + 2, `the app saw ${hits} health GETs, not 200`)
  t.ok(pings >= 1 && pings <= seconds + 1, `Redis saw ${pings} PINGs, not 200`)

  // The cache is a second, not for ever: the app failing is seen within ~2 s...
  appStatus = 503
  let changedAt = Date.now()
  let res: TextResponse
  do res = await get(`${tg.adminUrl}/health/ready`)
  while (res.status === 200 && Date.now() - changedAt < 5000)
  t.same(res.json(), { status: 'fail', failing: ['upstream'] })
  t.ok(Date.now() - changedAt < SOON_MS, `the app failing seen in ${Date.now() - changedAt} ms`)
  appStatus = 200

  // ...and so is Redis dying under deny.
  await redis.kill()
  changedAt = Date.now()
  do res = await get(`${tg.adminUrl}/health/ready`)
  while ((res.status === 200 || !(res.json() as { failing: string[] }).failing.includes('redis')) && Date.now() - changedAt < 5000)
  t.same(res.json(), { status: 'fail', failing: ['redis'] })
  t.ok(Date.now() - changedAt < SOON_MS, `Redis dying seen in ${Date.now() - changedAt} ms`)
})
