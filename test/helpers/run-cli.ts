import { Output } from './child-output'
import { CLI_ENTRY, DEFAULT_READY_TIMEOUT_MS, REPO_ROOT, spawnTs } from './spawn-ts'

// One-shot commands of the real CLI (`check-config FILE`, `hash-key KEY`), run to their exit.

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
  /** SIGKILL and reject after this long. Default: 60000 (DEFAULT_READY_TIMEOUT_MS). */
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
