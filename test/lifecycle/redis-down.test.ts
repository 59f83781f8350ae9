import t from 'tap'
import { startTollgate } from '../helpers/child'
import { get } from '../helpers/http'
import { startRedis } from '../helpers/redis'
import { startUpstream } from '../helpers/upstream'
import { drainConfig, READY_TIMEOUT_MS, STOPPED } from './fixtures/kit'

/*
 * Quitting Redis is the drain's last step; a Redis that is gone or hung must not hold
 * the exit. The real CLI in a child process, a real redis-server killed (SIGKILL) or
 * frozen (SIGSTOP: the connection stays open and nothing answers, QUIT included).
 */

t.jobs = 2

const DRAIN_DELAY_MS = 1000
// A grace far longer than the bounds below: a hang would show as a late exit 1 at the
// 11 s deadline, not pass unnoticed.
const CONFIG = (upstream: string, redis: string): string => drainConfig(upstream, { drainDelay: '1s', grace: '10s', redis })
// With the default 250 ms command timeout the hung QUIT would fail on its own; 10 s
// leaves only the stores' bound on QUIT (1 s) between a frozen Redis and a hung exit.
const REDIS = { killed: (url: string) => url, paused: (url: string) => `{ url: "${url}", timeout: 10s }` }

for (const how of ['killed', 'paused'] as const) {
  t.test(`Redis ${how} at shutdown: exit 0 within drain_delay + ~2 s`, async (t) => {
    const redis = await startRedis(t)
    const upstream = await startUpstream(t)
    const tg = await startTollgate(t, { configYaml: CONFIG(upstream.url, REDIS[how](redis.url)), readyTimeoutMs: READY_TIMEOUT_MS })
    t.equal((await get(`${tg.proxyUrl}/status/200`)).status, 200, 'serving, with Redis counting')

    if (how === 'killed') {
      await redis.kill()
    } else {
      redis.pause()
      t.teardown(() => redis.resume())
    }
    const signalled = Date.now()
    tg.signal('SIGTERM')
    const exit = await tg.exited
    const exitedAfter = Date.now() - signalled
    t.same(exit, { code: 0, signal: null }, 'exit 0: nothing was left at a deadline')
    const summary = tg.logs().find(STOPPED)
    t.ok(summary, 'the drain finished')
    const ms = Number(summary?.ms)
    // tollgate's own measure, from the signal to the summary: drain_delay, then at most
    // the QUIT's 1 s bound, and room for a loaded machine.
    t.ok(ms >= DRAIN_DELAY_MS && ms < DRAIN_DELAY_MS + 2000, `the drain took ${ms} ms by tollgate's clock`)
    // The test's view adds the child's exit and a loaded machine's scheduling.
    t.ok(exitedAfter < DRAIN_DELAY_MS + 4000, `exited ${exitedAfter} ms after the signal`)
  })
}
