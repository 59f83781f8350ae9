import t from 'tap'
import { at, pooledPercentiles } from '../../bench/distribution'
import type { Measurement } from '../../bench/measure'
import { parseOptions } from '../../bench/options'
import { latencySvg } from '../../bench/plot'
import { fixedRateTable, mainTable, ratioTable, reading } from '../../bench/report'
import { keptNotes, NOTES_BEGIN, NOTES_END } from '../../bench/results-md'
import { ROWS, selectRows } from '../../bench/rows'

// The bench's arithmetic and formatting, on a sample: what RESULTS.md says must follow from what was measured.

function row (id: string): (typeof ROWS)[number] {
  const found = ROWS.find((r) => r.id === id)
  if (found === undefined) throw new Error(`no row ${id}`)
  return found
}

function sample (id: string, reqPerSec: number, cpu: number | undefined, p99: number, statuses: Array<[number, number]> = [[200, 1000]]): Measurement {
  return {
    row: row(id),
    rounds: 1,
    responses: 1000,
    reqPerSec,
    latency: [[50, p99 / 4], [99, p99], [99.9, p99 * 2]],
    p50: p99 / 4,
    p99,
    statuses: new Map(statuses),
    errors: 0,
    cpuPerRequest: cpu,
    cpuRange: cpu === undefined ? undefined : [cpu - 5, cpu + 5],
    redisPerRequest: 20,
    rss: cpu === undefined ? undefined : 80 * 2 ** 20,
    othersBusy: 0.05
  }
}

const RUN = [
  sample('direct', 30_000, undefined, 3),
  sample('peer', 8000, 100, 10),
  sample('allowed', 12_000, 60, 12),
  sample('refused', 40_000, 30, 2, [[429, 1000]]),
  sample('direct-fixed', 5000, undefined, 1),
  sample('allowed-fixed', 4990, 80, 2.5)
]

t.test('the main table: saturating rows only, req/s in thousands, RSS in MB, statuses split', async (t) => {
  const { header, body } = mainTable(RUN)
  t.same(body.map((r) => r[0]), ['direct to the upstream', 'peer: Fastify + http-proxy + rate-limit (Redis)', 'tollgate allowed (Redis)', 'tollgate refused (1 key, 429)'])
  const allowed = body[2] ?? []
  t.equal(allowed[header.indexOf('req/s')], '12.0k')
  t.equal(allowed[header.indexOf('µs CPU/req')], '60.0')
  t.equal(allowed[header.indexOf('per round')], '55–65')
  t.equal(allowed[header.indexOf('RSS MB')], '80')
  t.equal(body[0]?.[header.indexOf('µs CPU/req')], '–', 'direct has no proxy')
  t.equal(body[3]?.[header.indexOf('429')], '1000')
})

t.test('ratios to the peer, and the fixed-rate run against direct', async (t) => {
  const ratios = ratioTable(RUN)
  t.same(ratios?.body.find((r) => r[0] === 'tollgate allowed (Redis)'), ['tollgate allowed (Redis)', '0.60', '1.50', '1.20'])
  t.equal(ratioTable(RUN.filter((m) => m.row.id !== 'peer')), undefined, 'no peer, no ratios')
  const fixed = fixedRateTable(RUN)
  t.equal(fixed?.body[1]?.[(fixed.header.indexOf('p99 − direct ms'))], '1.50')
})

t.test('the reading holds each ratio against its target', async (t) => {
  const text = reading(RUN).join('\n')
  t.match(text, /0\.60× \(target ≤ 0\.7×: met\)/)
  t.match(text, /1\.20× \(target ≤ 1\.5×: met\)/)
  t.match(text, /0\.50× an allowed one \(target ≤ 0\.25×: not met\)/)
  t.match(text, /adds 1\.50 ms \(target ≤ 1 ms: not met\)/)
})

t.test('the reading compares the gRPC row to both decision rows, or to the one that ran', async (t) => {
  const decisions = [sample('decision', 10_000, 50, 5), sample('peer-decision', 5000, 100, 10), sample('grpc', 8000, 40, 6)]
  t.match(reading(decisions).join('\n'), '- **gRPC ShouldRateLimit (1 descriptor) against the HTTP decisions:** 40.0 µs CPU/call against ' +
    "50.0 µs for GET /v1/authorize (0.80×) and 100.0 µs for the peer's decision route (0.40×); 8000 calls/s against 10000 req/s (0.80×) and 5000 req/s (1.60×).")
  t.match(reading(decisions.filter((m) => m.row.id !== 'decision')).join('\n'), /40\.0 µs CPU\/call against 100\.0 µs for the peer's decision route \(0\.40×\); 8000 calls\/s against 5000 req\/s \(1\.60×\)\./)
  t.notMatch(reading(decisions.filter((m) => m.row.id === 'grpc')).join('\n'), /gRPC/, 'nothing to compare with, no line')
})

t.test('pooling rounds: one round is itself, equal rounds the same, unequal ones weighted by responses', async (t) => {
  const points: Array<[number, number]> = [[1, 1], [50, 2], [99, 10]]
  t.same(pooledPercentiles([{ count: 10, points }], [1, 50, 99]), points)
  const pooled = pooledPercentiles([{ count: 10, points }, { count: 30, points }], [1, 50, 99])
  for (const [p, ms] of points) t.ok(Math.abs(at(pooled, p) - ms) < 1e-6, `p${p}`)
  const slow: Array<[number, number]> = [[1, 100], [50, 200], [99, 1000]]
  // 3 fast responses to 1 slow: the pooled median is the fast rounds' p66.7, between their p50 (2) and p99 (10).
  const median = at(pooledPercentiles([{ count: 30, points }, { count: 10, points: slow }], [50]), 50)
  t.ok(Math.abs(median - (2 + (200 / 3 - 50) / 49 * 8)) < 1e-6, `pooled median ${median}`)
})

t.test('the plot: one line and one legend entry per row, fixed-rate rows dashed', async (t) => {
  const svg = latencySvg(RUN, 'title & <test>')
  t.equal(svg.match(/<path /g)?.length, RUN.length)
  t.equal(svg.match(/<path [^>]*stroke-dasharray/g)?.length, 2)
  t.match(svg, /title &amp; &lt;test&gt;/)
})

t.test('the notes section survives a rewrite', async (t) => {
  const notes = `${NOTES_BEGIN}\nmeasured by hand\n${NOTES_END}`
  t.equal(keptNotes(`# old\n\n## Notes\n\n${notes}\n`), notes)
  t.equal(keptNotes(''), `${NOTES_BEGIN}\n${NOTES_END}`)
})

t.test('options: defaults, --rows, and clear errors', async (t) => {
  const o = parseOptions([])
  t.same([o.rounds, o.duration, o.warmup, o.connections, o.threads, o.rate, o.build, o.write], [3, 10, 3, 50, 1, 5000, true, true])
  t.same(parseOptions(['--rows', 'peer, allowed', '--no-build', '--warmup', '0']).rows, ['peer', 'allowed'])
  t.same(parseOptions(['--rows', 'grpc']).rows, ['grpc'], 'the gRPC row by its id')
  t.ok(selectRows(undefined).some((r) => r.id === 'grpc'), 'and among the default rows')
  t.same(selectRows(['allowed', 'peer']).map((r) => r.id), ['peer', 'allowed'], 'in the list order')
  t.notOk(selectRows(undefined).some((r) => r.optional === true), 'optional rows only when named')
  t.throws(() => parseOptions(['--duration', '0']), /--duration needs a whole number from 1/)
  t.throws(() => parseOptions(['--bogus']), /Unknown option '--bogus'/)
  t.throws(() => parseOptions(['--rows', 'peer,nope']), /unknown row\(s\) nope; the rows are direct, peer/)
})
