import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { UpstreamProbe } from '../../src/observe'
import { probeUpstream } from '../../src/proxy'
import { startUpstream } from '../helpers/upstream'

/* The loop behind tollgate_upstream_up, against a real app on a real socket. */

t.test('the first check is done when start() resolves; then one per interval, read each time', async (t) => {
  const upstream = await startUpstream(t)
  const results: boolean[] = []
  let intervalMs = 50
  const loop = new UpstreamProbe({
    probe: async () => await probeUpstream(upstream.url, '/status/200', 2000),
    intervalMs: () => intervalMs,
    onResult: (up) => { results.push(up) }
  })
  t.teardown(() => { loop.stop() })
  await loop.start()
  t.same(results, [true], 'the gauge is set before start() resolves')
  await sleep(400)
  t.ok(results.length >= 4, `about one check per 50 ms (${results.length} in 400 ms)`)
  intervalMs = 10_000
  await sleep(100)
  const settled = upstream.requests.length
  await sleep(400)
  t.equal(upstream.requests.length, settled, 'a longer interval applies from the next check')
  await upstream.close()
})

t.test('the app going away is reported down', async (t) => {
  const upstream = await startUpstream(t)
  const results: boolean[] = []
  const loop = new UpstreamProbe({
    probe: async () => await probeUpstream(upstream.url, undefined, 1000),
    intervalMs: () => 50,
    onResult: (up) => { results.push(up) }
  })
  t.teardown(() => { loop.stop() })
  await loop.start()
  await upstream.close()
  await sleep(300)
  t.equal(results[0], true)
  t.equal(results.at(-1), false, 'down once the port refuses')
})

t.test('stop() during a check in flight: that check reports nothing and no other starts', async (t) => {
  const upstream = await startUpstream(t)
  const results: boolean[] = []
  const loop = new UpstreamProbe({
    probe: async () => await probeUpstream(upstream.url, '/slow/300', 2000),
    intervalMs: () => 20,
    onResult: (up) => { results.push(up) }
  })
  await loop.start()
  await sleep(100)
  t.equal(upstream.requests.length, 2, 'the second check is in flight')
  loop.stop()
  await sleep(800)
  t.same(results, [true], 'only the first check reported')
  t.equal(upstream.requests.length, 2, 'no check after stop()')
})
