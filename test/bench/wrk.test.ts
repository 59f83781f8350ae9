import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { PERCENTILES } from '../../bench/load'
import { Procs } from '../../bench/procs'
import { findWrk, parseWrkOutput, wrkLoader } from '../../bench/wrk'

// bench/wrk.lua and its parser: the bench's counts are only as right as these.

t.test('parses the BENCH-JSON line: statuses, errors summed, µs to ms', async (t) => {
  const run = parseWrkOutput('Running 1s test\nBENCH-JSON {"requests":30,"duration_us":1500000,"statuses":{"200":20,"429":10},' +
    '"errors":{"connect":1,"read":2,"write":0,"timeout":3},"latency_us":[[50,1500],[99,20000]]}\n')
  t.equal(run.responses, 30)
  t.equal(run.seconds, 1.5)
  t.same([...run.statuses].sort(), [[200, 20], [429, 10]])
  t.equal(run.errors, 6)
  t.same(run.latency, [[50, 1.5], [99, 20]])
})

t.test('no BENCH-JSON line: an error that shows what wrk printed', async (t) => {
  t.throws(() => parseWrkOutput('unable to connect to 127.0.0.1:1 Connection refused'), /printed no BENCH-JSON line:\nunable to connect/)
})

t.test('a real wrk run rotates the keys and counts every status', { skip: findWrk() === undefined ? 'wrk is not installed' : false }, async (t) => {
  const seen = new Map<string, number>()
  let n = 0
  const server = createServer((req, res) => {
    const key = String(req.headers['x-api-key'])
    seen.set(key, (seen.get(key) ?? 0) + 1)
    res.statusCode = n++ % 2 === 0 ? 200 : 429
    res.end('ok')
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const dir = mkdtempSync(join(tmpdir(), 'bench-wrk-test-'))
  const procs = new Procs()
  t.teardown(async () => {
    await procs.stopAll()
    server.close()
    rmSync(dir, { recursive: true, force: true })
  })
  const wrk = findWrk() ?? 'wrk'
  const { port } = server.address() as AddressInfo
  const run = await wrkLoader(wrk, procs, dir)({ url: `http://127.0.0.1:${port}/v1/items`, keys: ['a', 'b', 'c'], seconds: 1, connections: 2, threads: 2 })

  t.ok(run.responses > 0, 'some responses')
  const counted = [...run.statuses.values()].reduce((a, b) => a + b, 0)
  t.equal(counted, run.responses, 'every response has its status counted, over both threads')
  t.ok((run.statuses.get(200) ?? 0) > 0 && (run.statuses.get(429) ?? 0) > 0, 'both statuses seen')
  t.same([...seen.keys()].sort(), ['a', 'b', 'c'], 'every key was sent, and only those')
  t.same(run.latency.map(([p]) => p), PERCENTILES, 'one latency point per percentile')
  const values = run.latency.map(([, ms]) => ms)
  t.same(values, [...values].sort((a, b) => a - b), 'latencies ascend with the percentile')
})

t.test('keyHeader: the keys go in the header named (the memory run sends callers as x-forwarded-for)', { skip: findWrk() === undefined ? 'wrk is not installed' : false }, async (t) => {
  const seen = new Set<string>()
  const server = createServer((req, res) => {
    seen.add(`${String(req.headers['x-forwarded-for'])}|${String(req.headers['x-api-key'])}`)
    res.end('ok')
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const dir = mkdtempSync(join(tmpdir(), 'bench-wrk-test-'))
  const procs = new Procs()
  t.teardown(async () => {
    await procs.stopAll()
    server.close()
    rmSync(dir, { recursive: true, force: true })
  })
  const { port } = server.address() as AddressInfo
  await wrkLoader(findWrk() ?? 'wrk', procs, dir)({ url: `http://127.0.0.1:${port}/`, keys: ['10.0.0.1', '10.0.0.2'], keyHeader: 'x-forwarded-for', seconds: 1, connections: 2, threads: 1 })
  t.same([...seen].sort(), ['10.0.0.1|undefined', '10.0.0.2|undefined'], 'each caller in x-forwarded-for, no x-api-key')
})
