import { mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import type { BenchContext } from './context'
import type { Loader } from './load'
import { summarizeProfile } from './profile'
import { REPO_ROOT, sleep } from './procs'
import { startTollgateRedis, type Base } from './stacks'
import { PATH } from './tollgate-config'

/**
 * `--profile`: the allowed row (or, with `--rows refused`, the refused one) against
 * tollgate under `node --cpu-prof`, then a summary of the self time by package and
 * function over the measured part only.
 */
export async function runProfile (ctx: BenchContext, base: Base, loader: Loader): Promise<void> {
  const { options } = ctx
  const profDir = join(ctx.tmp, 'prof')
  mkdirSync(profDir)
  const spawnedAt = performance.now()
  const tollgate = await startTollgateRedis(ctx, base, ['--cpu-prof', '--cpu-prof-dir', profDir])
  const refused = options.rows?.includes('refused') === true
  const keys = refused ? [base.keys.refused.key] : base.keys.allowed.map((k) => k.key)
  const request = { url: `${tollgate.url}${PATH}`, keys, connections: options.connections, threads: options.threads }
  if (options.warmup > 0) await loader({ ...request, seconds: options.warmup })
  const from = performance.now()
  await loader({ ...request, seconds: options.rounds * options.duration })
  const to = performance.now()
  // A clean exit writes the profile: SIGTERM → close-with-grace → exit.
  tollgate.child.process.kill('SIGTERM')
  await Promise.race([tollgate.child.exited, sleep(15_000)])
  const file = readdirSync(profDir).find((f) => f.endsWith('.cpuprofile'))
  if (file === undefined) throw new Error(`tollgate wrote no .cpuprofile in ${profDir} (exit: ${tollgate.child.exitInfo ?? 'still running'})`)
  const profile = join(profDir, file)
  ctx.log(`profile: ${profile} (${(statSync(profile).size / 1e6).toFixed(1)} MB)`)
  // Only the measured run, not the start, the warm-up or the shutdown; the profile starts
  // when the process does, give or take its bootstrap (tens of ms).
  const window = { fromMs: from - spawnedAt + 200, toMs: to - spawnedAt - 200 }
  process.stdout.write(`\n${summarizeProfile(readFileSync(profile, 'utf8'), REPO_ROOT, options.top, window)}\n`)
  process.stdout.write('\nA sampling profile counts wall time on the main thread: on a busy machine, time spent runnable but descheduled inside a syscall shows up as that syscall (writev, write*String).\n')
}
