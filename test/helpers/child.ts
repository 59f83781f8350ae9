import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'tap'
import { Output, type Exit, type LogLine } from './child-output'
import { killAndWait } from './reap'
import { CLI_ENTRY, DEFAULT_READY_TIMEOUT_MS, spawnTs } from './spawn-ts'

// The real CLI as a long-running child process: `serve` until the test ends. Its output
// is read by child-output.ts, it is spawned by spawn-ts.ts; runCli (run-cli.ts) runs
// one-shot commands.

export interface TollgateOptions {
  /** Written to `config.yml` in a fresh temp dir, passed as `--config`. */
  configYaml: string
  /** Added to the test process's environment. Default: none. */
  env?: Record<string, string | undefined>
  /** Appended after `--config FILE`. Default: none. */
  args?: string[]
  /** The TypeScript file to run. Default: `src/cli.ts`. */
  entry?: string
  /** How long to wait for the `tollgate listening` line. Default: 60000: a loaded CI machine can take many seconds to start a child. */
  readyTimeoutMs?: number
  /** Give the child a pseudo-terminal as stdin, like a shell does (Ctrl-C tests). Default: false. */
  stdinTty?: boolean
}

export interface Tollgate {
  /** `http://127.0.0.1:PORT` of the proxy listener, from the `tollgate listening` line. */
  readonly proxyUrl: string
  /** `http://127.0.0.1:PORT` of the admin listener. */
  readonly adminUrl: string
  readonly pid: number
  /** The temp dir holding the config; also the child's working directory. */
  readonly dir: string
  readonly configPath: string
  /** Resolves when the child has exited and its stdout and stderr are fully read. */
  readonly exited: Promise<Exit>
  /** Every stdout line that parsed as a JSON object, so far. */
  logs(): LogLine[]
  /** The raw stdout so far, JSON or not. */
  stdout(): string
  stderr(): string
  /**
   * The first log line, already seen or still to come, that matches. Rejects on
   * timeout or if the child exits first, with the tail of its output.
   */
  waitForLog(predicate: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>
  signal(sig: NodeJS.Signals): void
  /**
   * Replaces the config file the way editors and `kubectl` do: write a sibling, then
   * rename it over (one atomic directory change). `inPlace: true` truncates and
   * rewrites the file itself instead.
   */
  writeConfig(yaml: string, opts?: { inPlace?: boolean }): Promise<void>
}
const DEFAULT_LOG_TIMEOUT_MS = 5000

/**
 * Runs the CLI in its own process, as `serve --config <temp>/config.yml`, and resolves
 * once it logs `tollgate listening`. Teardown SIGKILLs it if it still runs and removes
 * the temp dir.
 */
export async function startTollgate (t: Test, options: TollgateOptions): Promise<Tollgate> {
  const dir = await mkdtemp(join(tmpdir(), 'tollgate-test-'))
  const configPath = join(dir, 'config.yml')
  await writeFile(configPath, options.configYaml)

  const child = spawnTs(options.entry ?? CLI_ENTRY, ['--config', configPath, ...(options.args ?? [])], {
    cwd: dir,
    env: options.env,
    stdin: options.stdinTty === true ? 'tty' : 'ignore'
  })
  t.teardown(async () => {
    await killAndWait(child)
    await rm(dir, { recursive: true, force: true })
  })

  const out = new Output(child)
  const listening = await out.waitForLog(
    (line) => line.msg === 'tollgate listening',
    options.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS
  )
  const proxyUrl = listening.proxy
  const adminUrl = listening.admin
  if (typeof proxyUrl !== 'string' || typeof adminUrl !== 'string') {
    throw new Error(`the listening line lacks string "proxy" and "admin" URLs: ${JSON.stringify(listening)}`)
  }

  return {
    proxyUrl,
    adminUrl,
    pid: child.pid as number,
    dir,
    configPath,
    exited: out.exited,
    logs: () => [...out.lines],
    stdout: () => out.stdout,
    stderr: () => out.stderr,
    waitForLog: async (predicate, timeoutMs = DEFAULT_LOG_TIMEOUT_MS) => await out.waitForLog(predicate, timeoutMs),
    signal: (sig) => { child.kill(sig) },
    async writeConfig (yaml, opts = {}) {
      if (opts.inPlace === true) {
        await writeFile(configPath, yaml)
        return
      }
      const next = join(dir, `.config.yml.${process.hrtime.bigint()}`)
      await writeFile(next, yaml)
      await rename(next, configPath)
    }
  }
}
