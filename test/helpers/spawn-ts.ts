import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { join, resolve } from 'node:path'
import { reapOnExit } from './reap'

// Where the real CLI is and how a test runs a TypeScript entry point as a child process;
// startTollgate (child.ts), runCli (run-cli.ts) and the bench start theirs here.

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

/** How long a child may take to start (or a one-shot command to finish): a loaded CI machine can take many seconds. */
export const DEFAULT_READY_TIMEOUT_MS = 60_000

export function spawnTs (
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
