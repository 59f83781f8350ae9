import { at } from './distribution'
import type { Measurement } from './measure'
import { PEER_ROW } from './rows'

/**
 * The bench's tables, as plain text for the terminal and as Markdown for RESULTS.md and
 * the README: the rows, their ratios to the peer, the fixed-rate run, and a reading that
 * holds the ratios against the hot path's targets (≤ 0.7× the peer's CPU per request,
 * p99 ≤ 1.5× the peer's, a refusal ≤ 0.25× an allowed request, ≤ 1 ms added at a fixed rate).
 */

export interface Table { header: string[], body: string[][] }

export function fmt (value: number | undefined, digits: number): string {
  return value === undefined || !Number.isFinite(value) ? '–' : value.toFixed(digits)
}

function kilo (value: number): string {
  return Number.isFinite(value) ? `${(value / 1000).toFixed(1)}k` : '–'
}

const saturating = (ms: readonly Measurement[]): Measurement[] => ms.filter((m) => m.row.load === 'saturate')

export function mainTable (ms: readonly Measurement[]): Table {
  const header = ['row', 'req/s', 'µs CPU/req', 'per round', 'p50 ms', 'p99 ms', 'RSS MB', '2xx', '429', 'other', 'errors', 'redis µs/req', 'others busy']
  const body = saturating(ms).map((m) => {
    let ok = 0
    let other = 0
    for (const [status, count] of m.statuses) {
      if (status >= 200 && status < 300) ok += count
      else if (status !== 429) other += count
    }
    return [
      m.row.label, kilo(m.reqPerSec), fmt(m.cpuPerRequest, 1),
      m.cpuRange === undefined ? '–' : `${fmt(m.cpuRange[0], 0)}–${fmt(m.cpuRange[1], 0)}`,
      fmt(m.p50, 2), fmt(m.p99, 2), m.rss === undefined ? '–' : fmt(m.rss / 2 ** 20, 0),
      String(ok), String(m.statuses.get(429) ?? 0), String(other), String(m.errors),
      fmt(m.redisPerRequest, 1), `${fmt(m.othersBusy * 100, 0)}%`
    ]
  })
  return { header, body }
}

/** Every proxy row against the peer; undefined when the peer did not run. */
export function ratioTable (ms: readonly Measurement[]): Table | undefined {
  const peer = ms.find((m) => m.row.id === PEER_ROW)
  if (peer === undefined) return undefined
  const body = saturating(ms).filter((m) => m.cpuPerRequest !== undefined).map((m) => [
    m.row.label,
    fmt((m.cpuPerRequest ?? NaN) / (peer.cpuPerRequest ?? NaN), 2),
    fmt(m.reqPerSec / peer.reqPerSec, 2),
    fmt(m.p99 / peer.p99, 2)
  ])
  return { header: ['row', 'CPU/req ÷ peer', 'req/s ÷ peer', 'p99 ÷ peer'], body }
}

/** The fixed-rate rows: what each adds to the direct row's latency at the same rate. */
export function fixedRateTable (ms: readonly Measurement[]): Table | undefined {
  const fixed = ms.filter((m) => m.row.load === 'fixed')
  if (fixed.length === 0) return undefined
  const direct = fixed.find((m) => m.row.system === 'direct')
  const body = fixed.map((m) => [
    m.row.label, fmt(m.reqPerSec, 0), fmt(m.p50, 2), fmt(m.p99, 2), fmt(at(m.latency, 99.9), 2),
    direct === undefined || m === direct ? '–' : fmt(m.p99 - direct.p99, 2),
    fmt(m.cpuPerRequest, 1), String(m.errors)
  ])
  return { header: ['row', 'req/s held', 'p50 ms', 'p99 ms', 'p99.9 ms', 'p99 − direct ms', 'µs CPU/req', 'errors'], body }
}

export function textTable ({ header, body }: Table): string {
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => (r[i] ?? '').length)))
  const line = (r: string[]): string => r.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ')
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n')
}

export function markdownTable ({ header, body }: Table): string {
  const line = (r: string[]): string => `| ${r.join(' | ')} |`
  return [line(header), `| ${header.map((_, i) => (i === 0 ? '---' : '---:')).join(' | ')} |`, ...body.map(line)].join('\n')
}

const verdict = (ok: boolean): string => ok ? 'met' : 'not met'

/** One line per target this run can judge, each saying met or not. */
export function reading (ms: readonly Measurement[]): string[] {
  const by = (id: string): Measurement | undefined => ms.find((m) => m.row.id === id)
  const peer = by(PEER_ROW)
  const allowed = by('allowed')
  const memory = by('allowed-memory')
  const refused = by('refused')
  const out: string[] = []
  const busiest = Math.max(...ms.map((m) => m.othersBusy).filter(Number.isFinite), 0)
  if (busiest > 0.1) {
    out.push(`- **A noisy run:** other processes took up to ${fmt(busiest * 100, 0)}% of the machine's CPU during a row, so every figure is worse than on a quiet machine; ` +
      'the ratios between rows of the same run still compare, the verdicts below are those of this run only.')
  }
  if (peer?.cpuPerRequest !== undefined && allowed?.cpuPerRequest !== undefined) {
    const cpu = allowed.cpuPerRequest / peer.cpuPerRequest
    const p99 = allowed.p99 / peer.p99
    out.push(`- **tollgate allowed (Redis) against the peer:** ${fmt(allowed.cpuPerRequest, 1)} µs CPU/req against ${fmt(peer.cpuPerRequest, 1)} µs: ` +
      `${fmt(cpu, 2)}× (target ≤ 0.7×: ${verdict(cpu <= 0.7)}); ${fmt(allowed.reqPerSec / peer.reqPerSec, 2)}× its req/s; ` +
      `p99 ${fmt(allowed.p99, 1)} ms against ${fmt(peer.p99, 1)} ms: ${fmt(p99, 2)}× (target ≤ 1.5×: ${verdict(p99 <= 1.5)}).`)
  }
  if (memory?.cpuPerRequest !== undefined && allowed?.cpuPerRequest !== undefined) {
    out.push(`- **Embedded store:** ${fmt(memory.cpuPerRequest, 1)} µs CPU/req, ${fmt(memory.cpuPerRequest / allowed.cpuPerRequest, 2)}× the Redis row` +
      (peer?.cpuPerRequest === undefined ? '.' : ` and ${fmt(memory.cpuPerRequest / peer.cpuPerRequest, 2)}× the peer.`))
  }
  if (refused?.cpuPerRequest !== undefined && allowed?.cpuPerRequest !== undefined) {
    const ratio = refused.cpuPerRequest / allowed.cpuPerRequest
    out.push(`- **Refused (429):** ${fmt(refused.cpuPerRequest, 1)} µs CPU/req, ${fmt(ratio, 2)}× an allowed one (target ≤ 0.25×: ${verdict(ratio <= 0.25)}); ` +
      `Redis spent ${fmt(refused.redisPerRequest, 1)} µs per refusal (0 once refusals are answered locally).`)
  }
  out.push(...decisionReadings(by), ...gatewayReadings(by))
  return out
}

type Find = (id: string) => Measurement | undefined

/** The decision API and the gRPC service, each against what it is compared with. */
function decisionReadings (by: Find): string[] {
  const out: string[] = []
  const decision = by('decision')
  const peerDecision = by('peer-decision')
  if (decision?.cpuPerRequest !== undefined && peerDecision?.cpuPerRequest !== undefined) {
    const cpu = decision.cpuPerRequest / peerDecision.cpuPerRequest
    out.push(`- **Decision API against the peer's decision route:** ${fmt(decision.cpuPerRequest, 1)} µs CPU/req against ${fmt(peerDecision.cpuPerRequest, 1)} µs: ` +
      `${fmt(cpu, 2)}× (target ≤ 1.0×: ${verdict(cpu <= 1)}); ${fmt(decision.reqPerSec / peerDecision.reqPerSec, 2)}× its req/s.`)
  }
  // No target in the issue: the line compares, it judges nothing.
  const grpc = by('grpc')
  const httpDecisions = ([[decision, 'GET /v1/authorize'], [peerDecision, "the peer's decision route"]] as const)
    .flatMap(([m, name]) => m?.cpuPerRequest === undefined ? [] : [{ m, name, cpu: m.cpuPerRequest }])
  if (grpc?.cpuPerRequest !== undefined && httpDecisions.length > 0) {
    const cpu = grpc.cpuPerRequest
    out.push(`- **gRPC ShouldRateLimit (1 descriptor) against the HTTP decisions:** ${fmt(cpu, 1)} µs CPU/call against ` +
      httpDecisions.map((d) => `${fmt(d.cpu, 1)} µs for ${d.name} (${fmt(cpu / d.cpu, 2)}×)`).join(' and ') +
      `; ${fmt(grpc.reqPerSec, 0)} calls/s against ` +
      httpDecisions.map((d) => `${fmt(d.m.reqPerSec, 0)} req/s (${fmt(grpc.reqPerSec / d.m.reqPerSec, 2)}×)`).join(' and ') + '.')
  }
  return out
}

/** nginx, the fixed-rate rows and memory. */
function gatewayReadings (by: Find): string[] {
  const out: string[] = []
  const allowed = by('allowed')
  const memory = by('allowed-memory')
  const nginxAuth = by('nginx-auth')
  const nginx = by('nginx')
  if (nginxAuth !== undefined && nginx !== undefined) {
    const throughput = nginxAuth.reqPerSec / nginx.reqPerSec
    out.push(`- **nginx + tollgate (auth_request) against nginx limit_req alone:** ${fmt(nginxAuth.reqPerSec, 0)} against ${fmt(nginx.reqPerSec, 0)} req/s: ` +
      `${fmt(throughput, 2)}× (target ≥ 0.5×: ${verdict(throughput >= 0.5)}), limits shared across replicas, which limit_req cannot.`)
  }
  const fixedDirect = by('direct-fixed')
  const fixedAllowed = by('allowed-fixed')
  if (fixedDirect !== undefined && fixedAllowed !== undefined) {
    const added = fixedAllowed.p99 - fixedDirect.p99
    out.push(`- **At a fixed rate** (${fmt(fixedAllowed.reqPerSec, 0)} req/s held): tollgate's p99 ${fmt(fixedAllowed.p99, 2)} ms against direct ${fmt(fixedDirect.p99, 2)} ms, ` +
      `so it adds ${fmt(added, 2)} ms (target ≤ 1 ms: ${verdict(added <= 1)}).`)
  }
  const rss = [allowed, memory].filter((m): m is Measurement => m?.rss !== undefined)
  if (rss.length > 0) {
    out.push(`- **RSS** at the end of the run (${rss.map((m) => `${m.row.label} ${fmt((m.rss ?? NaN) / 2 ** 20, 0)} MB`).join(', ')}): ` +
      'with the 1,001 keys of this config, not the 100,000 distinct keys of the ≤ 120 MB target.')
  }
  return out
}
