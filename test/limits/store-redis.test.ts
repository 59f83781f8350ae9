import { once } from 'node:events'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import type { Test } from 'tap'
import { Redis, type RedisOptions } from 'ioredis'
import { RedisFailure } from '../../src/limits/store-errors'
import { RedisLimitStore, groupKey, limitKey } from '../../src/limits/store-redis'
import { startRedis } from '../helpers/redis'
import { storeBehaviour } from './store-behaviour'
import { freshSubject, win, type Harness } from './store-harness'

/** Options the sidecar uses: fail at once when down; the store owns the timeout (250 ms by default). */
const CLIENT_OPTIONS: RedisOptions = {
  host: '127.0.0.1',
  enableOfflineQueue: false,
  maxRetriesPerRequest: 0,
}

async function client (t: Test, port: number, options: RedisOptions = {}): Promise<Redis> {
  const redis = new Redis({ ...CLIENT_OPTIONS, port, ...options })
  redis.on('error', () => {}) // reconnect noise after a kill; commands report failures
  t.teardown(() => redis.disconnect())
  await once(redis, 'ready')
  return redis
}

t.test('redis store', async (t) => {
  const server = await startRedis(t)
  const admin = await client(t, server.port)

  t.test('behaviour', async (t) => {
    const connections: Redis[] = []
    for (let i = 0; i < 4; i++) connections.push(await client(t, server.port))
    const harness: Harness = {
      // Distinct connections, so concurrent checks really race inside Redis.
      stores: (_t, n) => connections.slice(0, n).map((c) => new RedisLimitStore(c)),
      now: Date.now, // redis-server runs on this machine, on the same clock
      sleep: (ms) => sleep(Math.max(0, ms)),
      slackMs: 50,
    }
    storeBehaviour(t, harness)
  })

  t.test('keys: the subject in a hash tag, then the scope, nothing else', async (t) => {
    const store = new RedisLimitStore(await client(t, server.port))
    const subject = freshSubject()
    await store.check({
      subject,
      windows: [win('gcra', 5, 1000, 'plan:0'), win('fixed', 1000, 86_400_000, 'route:POST /v1/search:0')],
      cost: 1,
    })
    const keys = (await admin.keys(`tollgate:{${subject}}:*`)).sort()
    t.same(keys, [`tollgate:{${subject}}:plan:0`, `tollgate:{${subject}}:route:POST /v1/search:0`])
    t.equal(limitKey('a}:b', 'c'), 'tollgate:{a%7D:b}:c', 'a brace cannot end the tag early')
    t.equal(limitKey('a%7D:b', 'c'), 'tollgate:{a%257D:b}:c', 'nor can a look-alike collide')
    t.equal(limitKey('anon:2001:db8::1', 'plan:0'), 'tollgate:{anon:2001:db8::1}:plan:0')
  })

  t.test('group keys: hash-tagged by the call\'s tag, so a multi-subject script stays in one slot', async (t) => {
    const store = new RedisLimitStore(await client(t, server.port))
    const [a, b] = [freshSubject(), freshSubject()]
    await store.checkGroups({ tag: 'rls:edge', cost: 1, groups: [{ subject: a, windows: [win('gcra', 5, 1000, 'rls:api_key:plan:0')] }, { subject: b, windows: [win('gcra', 5, 1000, 'x')] }] })
    const keys = (await admin.keys('tollgate:{rls:edge}:*')).filter((k) => k.includes(a) || k.includes(b)).sort()
    t.same(keys, [`tollgate:{rls:edge}:${a.length}:${a}:rls:api_key:plan:0`, `tollgate:{rls:edge}:${b.length}:${b}:x`].sort())
    t.equal(groupKey('a}b', 'anon:1', 's'), 'tollgate:{a%7Db}:6:anon:1:s', 'a brace cannot end the tag early')
  })

  t.test('state: one string per key with an expiry that frees idle state', async (t) => {
    const store = new RedisLimitStore(await client(t, server.port))
    const subject = freshSubject()
    await store.check({
      subject,
      // Minute windows: a 1 s window could end between the write and the reads below on a
      // busy machine, its key then gone (the fixed one) or its TTL past the bounds.
      windows: [win('gcra', 4, 60_000, 'g'), win('fixed', 4, 60_000, 'f'), win('sliding', 4, 60_000, 's')],
      cost: 1,
    })
    const [g, f, s] = [limitKey(subject, 'g'), limitKey(subject, 'f'), limitKey(subject, 's')]
    t.match(await admin.get(g), /^g:1000000:\d{16}$/, 'used in micro-units, at in µs')
    t.match(await admin.get(f), /^f:\d{10}000000:1000000$/, 'window start in µs, count')
    t.match(await admin.get(s), /^s:\d{10}000000:1000000:0$/, 'window start, count, previous count')
    const [gTtl, fTtl, sTtl] = await Promise.all([admin.pttl(g), admin.pttl(f), admin.pttl(s)])
    t.ok(gTtl > 14_000 && gTtl <= 15_000, `gcra lives until drained (1 of 4 at 4/min: 15 s): ${gTtl}`)
    t.ok(fTtl > 0 && fTtl <= 60_000, `fixed lives until its window ends: ${fTtl}`)
    t.ok(sTtl > 60_000 && sTtl <= 120_000, `sliding lives until the next window ends: ${sTtl}`)
    const refused = await store.check({ subject, windows: [win('gcra', 4, 60_000, 'g')], cost: 9 })
    t.equal(refused.allowed, false)
    t.match(await admin.get(g), /^g:1000000:/, 'a refusal writes nothing')
  })

  t.test('the script survives SCRIPT FLUSH (EVALSHA falls back to EVAL)', async (t) => {
    const store = new RedisLimitStore(await client(t, server.port))
    const request = { subject: freshSubject(), windows: [win('gcra', 5, 60_000)], cost: 1 }
    await store.check(request)
    await admin.script('FLUSH')
    t.match(await store.check(request), { allowed: true, windows: [{ remaining: 3 }] })
  })

  t.test('close() leaves the caller’s connection open', async (t) => {
    const redis = await client(t, server.port)
    await new RedisLimitStore(redis).close()
    t.equal(redis.status, 'ready')
    t.equal(await redis.ping(), 'PONG')
  })
})

t.test('check() rejects within the command timeout when redis-server hangs, then is killed', async (t) => {
  const server = await startRedis(t)
  const store = new RedisLimitStore(await client(t, server.port))
  const request = { subject: freshSubject(), windows: [win('gcra', 5, 1000)], cost: 1 }
  t.equal((await store.check(request)).allowed, true)

  server.pause()
  const hung = Date.now()
  await t.rejects(store.check(request), /timed out/i, 'hung: the command times out')
  t.ok(Date.now() - hung < 1000, `hung: rejected in ${Date.now() - hung} ms`)
  server.resume()

  await server.kill()
  for (const moment of ['at once', 'after the connection is seen closed']) {
    const started = Date.now()
    await t.rejects(store.check(request), RedisFailure, moment)
    t.ok(Date.now() - started < 1000, `${moment}: rejected in ${Date.now() - started} ms`)
    await sleep(100)
  }
})
