import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import type { Test } from 'tap'
import { killAndWait, reapOnExit } from './reap'

/** The repository root, whatever the working directory of the test run. */
export const REPO_ROOT = resolve(__dirname, '..', '..')
/** The real CLI, run from source. */
export const CLI_ENTRY = join(REPO_ROOT, 'src', 'cli.ts')
/** Runs a TypeScript entry point as a child's main module (see run-ts.js); the bench starts its helpers with it too. */
export const RUN_TS = join(__dirname, 'run-ts.js')
/**
 * Puts a pseudo-terminal on fd 0 and execs the command: the same pid (signals reach
 * it), stdout and stderr still our pipes. Node has no pty API; the master end stays
 * open in the child so the terminal never hangs up.
 */
const WITH_TTY_STDIN = 'import os, pty, sys\nmaster, slave = pty.openpty()\nos.set_inheritable(master, True)\nos.dup2(slave, 0)\nos.execvp(sys.argv[1], sys.argv[1:])'

/** A parsed pino line: `level`, `time`, `msg` and whatever the logger bound. */
export type LogLine = Record<string, unknown>

export interface Exit {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
}

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

const DEFAULT_READY_TIMEOUT_MS = 60_000
const DEFAULT_LOG_TIMEOUT_MS = 5000
const TAIL_CHARS = 4000

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

export interface CliResult {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
}

export interface RunCliOptions {
  /** Added to the test process's environment. Default: none. */
  env?: Record<string, string | undefined>
  /** Default: the repository root. */
  cwd?: string
  /** The TypeScript file to run. Default: `src/cli.ts`. */
  entry?: string
  /** SIGKILL and reject after this long. Default: 15000. */
  timeoutMs?: number
  /** Written to the child's stdin, which is then closed. Default: no stdin (/dev/null). */
  input?: string
}

/** Runs a one-shot command (`check-config FILE`, `hash-key KEY`) to its exit. */
export async function runCli (args: string[], opts: RunCliOptions = {}): Promise<CliResult> {
  const child = spawnTs(opts.entry ?? CLI_ENTRY, args, { cwd: opts.cwd ?? REPO_ROOT, env: opts.env, stdin: opts.input === undefined ? 'ignore' : 'pipe' })
  child.stdin?.end(opts.input)
  const out = new Output(child)
  const timeoutMs = opts.timeoutMs ?? DEFAULT_READY_TIMEOUT_MS
  let timer: NodeJS.Timeout | undefined
  const timedOut = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`tollgate ${args.join(' ')} did not exit within ${timeoutMs} ms${out.tail()}`))
    }, timeoutMs)
  })
  try {
    const { code, signal } = await Promise.race([out.exited, timedOut])
    return { code, signal, stdout: out.stdout, stderr: out.stderr }
  } finally {
    clearTimeout(timer)
  }
}

function spawnTs (
  entry: string,
  args: string[],
  opts: { cwd: string, env: Record<string, string | undefined> | undefined, stdin?: 'ignore' | 'pipe' | 'tty' }
): ChildProcess {
  const command = [process.execPath, RUN_TS, entry, ...args]
  const tty = opts.stdin === 'tty'
  const child = spawn(tty ? 'python3' : process.execPath, tty ? ['-c', WITH_TTY_STDIN, ...command] : command.slice(1), {
    cwd: opts.cwd,
    env: { ...process.env, ...opts.env },
    stdio: [opts.stdin === 'pipe' ? 'pipe' : 'ignore', 'pipe', 'pipe']
  })
  reapOnExit(child)
  return child
}

/** Collects a child's output and turns its exit into a promise. */
class Output {
  stdout = ''
  stderr = ''
  readonly lines: LogLine[] = []
  readonly exited: Promise<Exit>
  private exit: Exit | undefined
  private partial = ''
  private readonly listeners = new Set<() => void>()

  constructor (child: ChildProcess) {
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      this.stdout += chunk
      const parts = (this.partial + chunk).split('\n')
      this.partial = parts.pop() ?? ''
      for (const part of parts) this.addLine(part)
    })
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderr += chunk
    })
    // 'close', not 'exit': it comes after stdio has ended, so a line logged just before
    // exiting is always in `lines` by the time `exited` resolves.
    this.exited = new Promise((resolve) => {
      child.once('close', (code: number | null, signal: NodeJS.Signals | null) => {
        this.addLine(this.partial)
        this.exit = { code, signal }
        resolve(this.exit)
        this.notify()
      })
      child.once('error', (err) => {
        this.stderr += `\n[spawn error] ${err.message}`
      })
    })
  }

  async waitForLog (predicate: (line: LogLine) => boolean, timeoutMs: number): Promise<LogLine> {
    return await new Promise((resolve, reject) => {
      let seen = 0
      const check = (): void => {
        for (; seen < this.lines.length; seen++) {
          const line = this.lines[seen]
          if (line !== undefined && predicate(line)) return finish(() => resolve(line))
        }
        if (this.exit !== undefined) {
          finish(() => reject(new Error(`the child exited (code ${String(this.exit?.code)}, signal ${String(this.exit?.signal)}) before logging a matching line${this.tail()}`)))
        }
      }
      const timer = setTimeout(() => {
        finish(() => reject(new Error(`no matching log line within ${timeoutMs} ms${this.tail()}`)))
      }, timeoutMs)
      const finish = (settle: () => void): void => {
        clearTimeout(timer)
        this.listeners.delete(check)
        settle()
      }
      this.listeners.add(check)
      check()
    })
  }

  tail (): string {
    return `\n--- stdout (tail) ---\n${this.stdout.slice(-TAIL_CHARS)}\n--- stderr (tail) ---\n${this.stderr.slice(-TAIL_CHARS)}`
  }

  private addLine (line: string): void {
    if (line.trim() === '') return
    try {
      const parsed: unknown = JSON.parse(line)
      if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) {
        this.lines.push(parsed as LogLine)
        this.notify()
      }
    } catch {
      // Not JSON (a stray console.log, a crash banner): kept in `stdout` only.
    }
  }

  private notify (): void {
    for (const listener of [...this.listeners]) listener()
  }
}
