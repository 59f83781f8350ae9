import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { checkGrpc, grpcFailures, grpcLoader, grpcLoadRun, readGrpcSummary } from '../../bench/grpc'
import { rlsCaller } from '../../bench/grpc-client'
import { PERCENTILES } from '../../bench/load'
import { Procs } from '../../bench/procs'
import { makeKeys, tollgateConfig } from '../../bench/tollgate-config'
import { startTollgate } from '../helpers/child'
import { READY_TIMEOUT_MS, scrape, valueOrNaN } from '../helpers/metrics'
import { startRedis } from '../helpers/redis'
import { grpcAddressOf } from '../grpc/client'

// The gRPC row's load generator and its parser: the row's counts are only as right as these.

t.test('parses the BENCH-GRPC line: OK as 200, OVER_LIMIT as 429, failed calls and UNKNOWN answers as errors', async (t) => {
  const summary = readGrpcSummary('BENCH-GRPC {"calls":33,"duration_us":1500000,"cpu_us":700000,"codes":{"OK":20,"OVER_LIMIT":10,"UNKNOWN":3},' +
    '"errors":{"UNAVAILABLE":2,"DEADLINE_EXCEEDED":1},"latency_ms":[[50,1.5],[99,20]]}\n')
  const run = grpcLoadRun(summary)
  t.equal(run.responses, 30, 'the answers with a status of their own')
  t.equal(run.seconds, 1.5)
  t.same([...run.statuses].sort(), [[200, 20], [429, 10]])
  t.equal(run.errors, 6, 'failed calls and UNKNOWN answers')
  t.same(run.latency, [[50, 1.5], [99, 20]])
  t.equal(grpcFailures(summary), 'UNKNOWN×3, UNAVAILABLE×2, DEADLINE_EXCEEDED×1', 'named for the warning')
  t.equal(grpcFailures({ ...summary, codes: { OK: 1 }, errors: {} }), undefined, 'nothing to warn about')
  t.ok(Number.isNaN(grpcLoadRun({ ...summary, latency_ms: [[50, null]] }).latency[0]?.[1]), 'a run with no answer: NaN, not 0 ms')
})

t.test('no BENCH-GRPC line: an error that shows what the load generator printed', async (t) => {
  t.throws(() => readGrpcSummary('grpc-loadgen: 14 UNAVAILABLE: No connection established'), /printed no BENCH-GRPC line:\ngrpc-loadgen: 14 UNAVAILABLE/)
})

t.test('a short run against a real tollgate with the bench\'s gRPC config: every key limited by its plan, OK and OVER_LIMIT counted', async (t) => {
  const redis = await startRedis(t)
  const keys = makeKeys()
  const tollgate = await startTollgate(t, { configYaml: tollgateConfig(undefined, redis.url, keys, { grpc: true }), readyTimeoutMs: READY_TIMEOUT_MS })
  const address = grpcAddressOf(tollgate.logs())
  const dir = mkdtempSync(join(tmpdir(), 'bench-grpc-test-'))
  const procs = new Procs()
  t.teardown(async () => {
    await procs.stopAll()
    rmSync(dir, { recursive: true, force: true })
  })
  const warnings: string[] = []
  const logs: string[] = []
  const load = grpcLoader(procs, dir, { log: (message) => logs.push(message), warn: (message) => warnings.push(message) })
  const three = keys.allowed.slice(0, 3)

  t.equal(await checkGrpc(address, three[0]?.key ?? ''), undefined, 'the row\'s check passes: OK from the key\'s own limit')
  t.match(await checkGrpc(address, 'not-a-key-of-the-bench'), /expected OK, got OVER_LIMIT/, 'and fails for a key tollgate does not know')

  // An empty domain is refused (an unknown one answers OK, as envoyproxy/ratelimit does).
  const empty = rlsCaller(address, '')
  t.teardown(() => empty.close())
  await t.rejects(empty.ask(three[0]?.key ?? ''), { code: 'INVALID_ARGUMENT' }, 'a gRPC error status reaches the caller by name')

  const run = await load({ url: address, keys: three.map((k) => k.key), seconds: 1, connections: 4, threads: 1 })
  t.ok(run.responses > 0, `some answers (${run.responses})`)
  t.same([...run.statuses], [[200, run.responses]], 'every answer OK')
  t.equal(run.errors, 0)
  t.same(warnings, [])
  t.match(logs[0], /^gRPC load generator: \d+\.\d µs of its own CPU per call, \d+% of a core$/, 'the client\'s own cost is logged')
  t.ok(run.seconds >= 1 && run.seconds < 3, `ran for its second (${run.seconds} s)`)
  t.same(run.latency.map(([p]) => p), PERCENTILES, 'one latency point per percentile')
  const values = run.latency.map(([, ms]) => ms)
  t.same(values, [...values].sort((a, b) => a - b), 'latencies ascend with the percentile')
  t.ok(values.every((ms) => ms > 0), 'and are real durations')

  // An unmatched descriptor answers OK too: the decisions per client show each call was a limit check on its key.
  const samples = await scrape(tollgate)
  const allowed = three.map((k) => valueOrNaN(samples, 'tollgate_ratelimit_decisions_total', { client: k.name, plan: 'bench', decision: 'allowed' }))
  t.ok(allowed.every((n) => n > 0), `each of the 3 keys was sent and allowed by its plan (${allowed.join(', ')})`)
  // The check's one call, besides the run's.
  t.equal(allowed.reduce((a, b) => a + b, 0), run.responses + 1, 'as many allowed decisions as OK answers')

  const refused = await load({ url: address, keys: [keys.refused.key], seconds: 1, connections: 2, threads: 1 })
  t.ok(refused.responses > 1, `some answers (${refused.responses})`)
  t.same([...refused.statuses].sort(), [[200, 1], [429, refused.responses - 1]], 'the 1-per-hour key: its first call OK, every other OVER_LIMIT')
})
