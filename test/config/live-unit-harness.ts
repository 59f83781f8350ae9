import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'tap'
import { LiveConfig, loadConfigFile, type Config, type ReloadResult, type Snapshot } from '../../src/config'
import { at } from '../helpers/at'

// Shared by the test/config/live-unit-*.test.ts files: `LiveConfig` on a real file, with
// a `build` the test controls: read → parse → validate → build → swap one reference,
// and what each failure leaves in force.

export const LISTEN = 'listen: { proxy: 127.0.0.1:1000, admin: 127.0.0.1:1001 }\nupstream: http://127.0.0.1:3000\n'
export const plan = (max: number): string => `${LISTEN}plans: { free: [ { max: ${max}, per: 1m } ] }\n`
/** What `plan(max)` set: the first window of plan free. */
export const freeMax = (config: Config): number => at(config.plans.free ?? [], 0).max

/** What the test's build makes: which config it came from, and a serial number. */
export interface State { readonly max: number, readonly built: number }

interface Harness {
  readonly live: LiveConfig<State>
  readonly path: string
  /** Every `onReload` call, in order. */
  readonly reports: Array<{ result: ReloadResult, trigger: string, current: Snapshot<State>, previous: Snapshot<State> }>
  /** Every config `build` was given. */
  readonly builds: Config[]
  write(text: string): Promise<void>
  /** Replaces `build` for the next calls. */
  setBuild(build: (config: Config, previous: Snapshot<State>) => Promise<State>): void
}

export async function harness (t: Test, text: string): Promise<Harness> {
  const dir = await mkdtemp(join(tmpdir(), 'tollgate-live-'))
  t.teardown(async () => await rm(dir, { recursive: true, force: true }))
  const path = join(dir, 'config.yml')
  await writeFile(path, text)
  const loaded = await loadConfigFile(path, {})
  if (!loaded.ok) throw new Error(loaded.errors.join('\n'))
  const builds: Config[] = []
  let serial = 0
  let build: (config: Config, previous: Snapshot<State>) => Promise<State> = async (config) => ({ max: freeMax(config), built: ++serial })
  const reports: Harness['reports'] = []
  const live = new LiveConfig<State>(
    { config: loaded.config, hash: loaded.hash, loadedAt: new Date(0), state: { max: freeMax(loaded.config), built: 0 } },
    {
      path,
      env: {},
      build: async (config, previous) => {
        builds.push(config)
        return await build(config, previous)
      },
      onReload: (result, trigger, current, previous) => { reports.push({ result, trigger, current, previous }) }
    }
  )
  return {
    live,
    path,
    reports,
    builds,
    write: async (next) => { await writeFile(path, next) },
    setBuild: (next) => { build = next }
  }
}
