import type { BenchContext } from './context'
import type { Loader, LoadRun } from './load'
import { rssBytes } from './proc-stat'
import { startTollgate, type Base } from './stacks'
import { makeKeys, PATH, tollgateConfig } from './tollgate-config'

/**
 * Distinct callers of the memory run: the "100,000 distinct keys seen". A
 * config file holds at most 1 MiB (about 9,000 keys), so they are anonymous callers,
 * each its own subject (`anon:IP`), told apart by `x-forwarded-for`: what an embedded
 * store keeps per caller is the same either way.
 */
export const MEMORY_KEY_COUNT = 100_000

/** 100,000 distinct IPv4 addresses, 10.0.0.0 upwards. */
function callerIps (): string[] {
  return Array.from({ length: MEMORY_KEY_COUNT }, (_, i) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`)
}
const SAMPLE_MS = 5000

interface Sample { atSeconds: number, rssMb: number }

/** The V8 heap in use at the end, from tollgate's own `/metrics`: live data and not yet collected garbage, apart from the rest of RSS. */
async function heapUsedMb (admin: string): Promise<number> {
  const text = await (await fetch(`${admin}/metrics`)).text()
  const match = /^tollgate_nodejs_heap_size_used_bytes (\S+)$/m.exec(text)
  return match?.[1] === undefined ? NaN : mb(Number(match[1]))
}

function mean (samples: readonly Sample[]): number {
  return samples.length === 0 ? NaN : samples.reduce((sum, x) => sum + x.rssMb, 0) / samples.length
}

function mb (bytes: number): number {
  return Math.round(bytes / 1e5) / 10
}

/**
 * `--memory`: tollgate on Redis and on its embedded store, side by side, with the
 * bench's 1,000 keys and an anonymous plan on a one-hour window (so the embedded store
 * keeps a counter for every caller seen), loaded by wrk rotating over 100,000 callers
 * for `--duration` seconds;
 * RSS is sampled every 5 s. Prints RSS when ready, once every key was seen, at the peak
 * and at the end, and the mean RSS of the run's first half against its second.
 */
export async function runMemory (ctx: BenchContext, base: Base, loader: Loader): Promise<void> {
  const { options } = ctx
  const keys = makeKeys()
  const ips = callerIps()
  const systems = [
    { label: 'tollgate (Redis)', name: 'memory-redis', redis: base.redis.url },
    { label: 'tollgate (embedded store)', name: 'memory-embedded', redis: undefined }
  ]
  const started = await Promise.all(systems.map(async (s) => ({
    ...s,
    target: await startTollgate(ctx, s.name, tollgateConfig(base.upstreamUrl, s.redis, keys, { per: '1h', anonymous: true }))
  })))
  const seconds = options.duration
  ctx.log(`memory: ${MEMORY_KEY_COUNT} callers, ${seconds} s of load on ${started.length} tollgates at once, RSS every ${SAMPLE_MS / 1000} s`)
  const rows = await Promise.all(started.map(async (s) => {
    const pid = s.target.child.pid
    const ready = mb(rssBytes(pid))
    const t0 = performance.now()
    const samples: Sample[] = []
    const timer = setInterval(() => { samples.push({ atSeconds: (performance.now() - t0) / 1000, rssMb: mb(rssBytes(pid)) }) }, SAMPLE_MS)
    let run: LoadRun
    try {
      run = await loader({ url: `${s.target.url}${PATH}`, keys: ips, keyHeader: 'x-forwarded-for', connections: options.connections, threads: 1, seconds })
    } finally {
      clearInterval(timer)
    }
    return { s, ready, samples, run, end: mb(rssBytes(pid)), heap: await heapUsedMb(s.target.admin) }
  }))
  const lines = ['| tollgate | callers | responses | 2xx | RSS ready MB | RSS once every key was seen MB | peak MB | end MB | heap used at the end MB | mean RSS, 1st → 2nd half MB |', '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |']
  for (const { s, ready, samples, run, end, heap } of rows) {
    // wrk rotates over the keys in order: all are seen once the responses pass their count.
    const rate = run.responses / run.seconds
    const seenAt = MEMORY_KEY_COUNT / rate
    const afterSeen = samples.find((x) => x.atSeconds >= seenAt)
    // RSS under load is a sawtooth (the heap grows until a major GC): growth is the mean
    // of the second half against the first, counted from once every caller was seen.
    const settled = samples.filter((x) => x.atSeconds >= seenAt)
    const halves = [settled.slice(0, settled.length >> 1), settled.slice(settled.length >> 1)].map(mean)
    const peak = Math.max(...samples.map((x) => x.rssMb), end)
    const ok = run.statuses.get(200) ?? 0
    lines.push(`| ${s.label} | ${MEMORY_KEY_COUNT} | ${run.responses} | ${ok} | ${ready} | ${afterSeen?.rssMb ?? 'not reached'} | ${peak} | ${end} | ${heap} | ${halves.map((m) => m.toFixed(1)).join(' → ')} |`)
    ctx.log(`${s.label}: RSS every ${SAMPLE_MS / 1000} s: ${samples.map((x) => x.rssMb).join(' ')}`)
  }
  process.stdout.write(`\n${lines.join('\n')}\n`)
}
