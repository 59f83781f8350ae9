import { existsSync, mkdtempSync, writeFileSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { autocannonLoad } from './autocannon-load'
import { createContext, type BenchContext } from './context'
import type { Loader } from './load'
import { checkMeasurement, measureAll, type Prepared } from './measure'
import { OptionsError, parseOptions, USAGE } from './options'
import { latencySvg } from './plot'
import { Procs, REPO_ROOT, safeRead } from './procs'
import { runMemory } from './memory-run'
import { runProfile } from './profile-run'
import { fixedRateTable, mainTable, ratioTable, reading, textTable } from './report'
import { resultsMarkdown } from './results-md'
import { DECISION_HEADERS, DECISION_PATH, selectRows, type Row } from './rows'
import { buildTollgate, startBase, SYSTEMS, type Base, type SystemId, type Target } from './stacks'
import { PATH } from './tollgate-config'
import { findWrk, wrkLoader } from './wrk'

/**
 * `npm run bench`: starts a real upstream, redis-server, tollgate (compiled), the peer
 * and nginx, loads each row in interleaved rounds, and prints and writes what it
 * measured (bench/RESULTS.md, bench/latency.svg). It asserts nothing about speed; it
 * warns when a row's statuses show the setup is wrong. Flags: `npm run bench -- --help`.
 */

const RESULTS_FILE = join(REPO_ROOT, 'bench', 'RESULTS.md')
const PLOT_FILE = join(REPO_ROOT, 'bench', 'latency.svg')

/** The saturating loader: wrk when installed, else autocannon with a note. */
function saturatingLoader (ctx: BenchContext): { loader: Loader, name: string } {
  const wrk = ctx.options.loader === 'wrk' ? findWrk() : undefined
  if (wrk !== undefined) return { loader: wrkLoader(wrk, ctx.procs, ctx.tmp), name: 'wrk' }
  ctx.note(`${ctx.options.loader === 'wrk' ? 'wrk is not installed (apt-get install wrk)' : '--loader autocannon'}: autocannon drives every row from inside the bench process, so it takes CPU from what it measures`)
  return { loader: autocannonLoad, name: 'autocannon (in the bench process)' }
}

/** One request with the row's first key, twice (the refused key answers 429 from the second on); a row with its own protocol, its own check. */
async function checkRow (ctx: BenchContext, p: Prepared, upstreamBody: string): Promise<void> {
  if (p.row.check !== undefined) {
    const wrong = await p.row.check(p.target.url, p.keys[0] ?? '').catch((error: unknown) => `failed: ${error instanceof Error ? error.message : String(error)}`)
    if (wrong !== undefined) ctx.warn(`${p.row.label}: ${wrong}`)
    return
  }
  const decision = p.row.asks === 'decision'
  const headers = { 'x-api-key': p.keys[0] ?? '', ...(decision ? DECISION_HEADERS : {}) }
  const url = decision ? `${p.target.url}${DECISION_PATH}` : `${p.target.url}${PATH}`
  // A decision answers an empty 200; a proxy, the upstream's own body.
  const expectedBody = decision ? '' : upstreamBody
  try {
    await (await fetch(url, { headers })).text()
    const res = await fetch(url, { headers })
    const body = await res.text()
    if (res.status !== p.row.expect) ctx.warn(`${p.row.label}: expected ${p.row.expect}, got ${res.status} ${body.slice(0, 300)}`)
    else if (p.row.expect === 200 && body !== expectedBody) ctx.warn(`${p.row.label}: the body is not the expected one: ${body.slice(0, 200)}`)
  } catch (error) {
    ctx.warn(`${p.row.label}: request failed: ${error instanceof Error ? error.message : String(error)}`)
  }
}

/** Starts each system the rows need once; a row whose system cannot run here is skipped with a note. */
async function prepareRows (ctx: BenchContext, base: Base, rows: readonly Row[], saturating: Loader): Promise<Prepared[]> {
  const started = new Map<SystemId, Promise<Target | string>>()
  const prepared: Prepared[] = []
  for (const row of rows) {
    let target = started.get(row.system)
    if (target === undefined) {
      target = SYSTEMS[row.system].start(ctx, base)
      started.set(row.system, target)
    }
    const ready = await target
    if (typeof ready === 'string') {
      ctx.note(`row "${row.label}" skipped: ${ready}`)
      continue
    }
    const keys = row.keys === 'refused' ? [base.keys.refused.key] : base.keys.allowed.map((k) => k.key)
    const loader = row.loader?.(ctx) ?? (row.load === 'fixed' ? autocannonLoad : saturating)
    prepared.push({ row, target: ready, loader, keys })
  }
  const upstreamBody = await (await fetch(`${base.upstreamUrl}${PATH}`)).text()
  for (const p of prepared) await checkRow(ctx, p, upstreamBody)
  return prepared
}

function logErrorLines (ctx: BenchContext, prepared: readonly Prepared[]): void {
  for (const file of new Set(prepared.flatMap((p) => p.target.logFile ?? []))) {
    const errors = safeRead(file).split('\n').filter((l) => /"level":(50|60)/.test(l))
    if (errors.length > 0) ctx.warn(`${file}: ${errors.length} error line(s), e.g. ${errors[0]?.slice(0, 300) ?? ''}`)
  }
}

async function bench (ctx: BenchContext, argv: readonly string[]): Promise<void> {
  const startedAt = new Date()
  const loadAtStart = loadavg().map((l) => l.toFixed(2)).join(', ')
  if (ctx.options.build) buildTollgate(ctx)
  if (!existsSync(join(REPO_ROOT, 'dist', 'cli.js'))) throw new Error('dist/cli.js is missing: run `npm run build` (or drop --no-build)')
  const base = await startBase(ctx)
  const { loader, name } = saturatingLoader(ctx)
  if (ctx.options.profile) return await runProfile(ctx, base, loader)
  if (ctx.options.memory) return await runMemory(ctx, base, loader)

  const prepared = await prepareRows(ctx, base, selectRows(ctx.options.rows), loader)
  const measurements = await measureAll(prepared, base, ctx)
  for (const m of measurements) checkMeasurement(m, ctx)
  logErrorLines(ctx, prepared)

  const tables = [mainTable(measurements), ratioTable(measurements), fixedRateTable(measurements)]
  process.stdout.write(`\n${tables.flatMap((t) => t === undefined ? [] : [textTable(t)]).join('\n\n')}\n\n${reading(measurements).join('\n')}\n`)
  if (ctx.warnings.length > 0) process.stdout.write(`\n${ctx.warnings.length} WARNING(s) above: the setup is off, read them before the numbers.\n`)
  const seconds = (Date.now() - startedAt.getTime()) / 1000
  if (ctx.options.write) {
    const command = `npm run bench${argv.length > 0 ? ` -- ${argv.join(' ')}` : ''}`
    const info = { command, startedAt, seconds, loadAtStart, loadAtEnd: loadavg().map((l) => l.toFixed(2)).join(', '), loader: name }
    writeFileSync(RESULTS_FILE, resultsMarkdown(measurements, ctx, info, safeRead(RESULTS_FILE)))
    writeFileSync(PLOT_FILE, latencySvg(measurements, `tollgate bench, ${startedAt.toISOString().slice(0, 16)}Z: latency by percentile`))
    ctx.log(`wrote ${RESULTS_FILE} and ${PLOT_FILE}`)
  }
  ctx.log(`done in ${seconds.toFixed(0)} s`)
}

async function main (): Promise<void> {
  const argv = process.argv.slice(2)
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${USAGE}\n`)
    return
  }
  const options = parseOptions(argv)
  const procs = new Procs()
  const tmp = mkdtempSync(join(tmpdir(), 'tollgate-bench-'))
  procs.removeOnExit(tmp)
  try {
    await bench(createContext(options, procs, tmp), argv)
  } finally {
    await procs.stopAll()
  }
}

main().catch((error: unknown) => {
  if (error instanceof OptionsError) {
    process.stderr.write(`bench: ${error.message}\n\n${USAGE}\n`)
    process.exitCode = 2
    return
  }
  process.stderr.write(`bench: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`)
  process.exitCode = 1
})
