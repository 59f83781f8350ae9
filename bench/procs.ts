import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process'
import { readFileSync, rmSync } from 'node:fs'
import { connect } from 'node:net'
import { REPO_ROOT } from '../test/helpers/spawn-ts'
import { sleep } from '../test/helpers/metrics'
import { killAndWait, reapOnExit } from '../test/helpers/reap'

/**
 * The bench's child processes. Every process it starts goes through `Procs.start` and is
 * SIGKILLed when the bench ends, however it ends: `stopAll` on the normal path,
 * test/helpers/reap's `exit` hook after an uncaught error, and a SIGINT/SIGTERM handler
 * for Ctrl-C. `teardown` has the shape of tap's, so test/helpers/redis.ts starts the
 * bench's redis-server exactly as it starts the tests'.
 */

// The repository root, the TypeScript runner and sleep are the tests' own: one definition each.
export { REPO_ROOT, RUN_TS } from '../test/helpers/spawn-ts'
export { sleep } from '../test/helpers/metrics'

export interface Child {
  readonly name: string
  readonly process: ChildProcess
  readonly pid: number
  /** Resolves when the process has exited. */
  readonly exited: Promise<void>
  /** Set once it has exited. */
  exitInfo: string | undefined
}

export class Procs {
  readonly #running = new Set<ChildProcess>()
  readonly #teardowns: Array<() => unknown> = []
  readonly #tempDirs: string[] = []

  constructor () {
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
      process.once(signal, () => {
        process.stderr.write(`\nbench: ${signal}, killing ${this.#running.size} child process(es)\n`)
        for (const child of this.#running) child.kill('SIGKILL')
        this.#removeTempDirs()
        process.exit(130)
      })
    }
    process.once('exit', () => this.#removeTempDirs())
  }

  start (name: string, command: string, args: readonly string[], options: SpawnOptions): Child {
    const child = spawn(command, [...args], { cwd: REPO_ROOT, ...options })
    reapOnExit(child)
    this.#running.add(child)
    let resolveExit = (): void => {}
    const exited = new Promise<void>((resolve) => { resolveExit = resolve })
    const handle: Child = { name, process: child, pid: child.pid ?? -1, exited, exitInfo: undefined }
    child.once('exit', (code, signal) => {
      this.#running.delete(child)
      handle.exitInfo = `code ${String(code)}, signal ${String(signal)}`
      resolveExit()
    })
    child.once('error', (error) => {
      this.#running.delete(child)
      handle.exitInfo = `spawn error: ${error.message}`
      resolveExit()
    })
    if (child.pid === undefined) throw new Error(`could not start ${name} (${command})`)
    return handle
  }

  /** Same contract as tap's `t.teardown`: run by `stopAll`. */
  teardown (fn: () => unknown): void {
    this.#teardowns.push(fn)
  }

  /** Removed when the bench exits, however it exits. */
  removeOnExit (dir: string): void {
    this.#tempDirs.push(dir)
  }

  async stopAll (): Promise<void> {
    await Promise.all([...this.#running].map(killAndWait))
    for (const fn of this.#teardowns.splice(0).reverse()) await fn()
    this.#removeTempDirs()
  }

  #removeTempDirs (): void {
    for (const dir of this.#tempDirs) rmSync(dir, { recursive: true, force: true })
  }
}

/**
 * Waits for the child's stdout to match and returns the match. Rejects when the child
 * exits first or the time runs out, with what the child wrote.
 */
export async function waitForStdout (child: Child, pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray> {
  const stdout = child.process.stdout
  if (stdout === null) throw new Error(`${child.name}: stdout is not piped`)
  return await new Promise((resolve, reject) => {
    let seen = ''
    const onData = (chunk: Buffer): void => {
      seen += chunk.toString()
      const match = pattern.exec(seen)
      if (match !== null) finish(() => resolve(match))
    }
    const onExit = (): void => finish(() => reject(new Error(`${child.name} exited (${child.exitInfo ?? '?'}) before printing ${String(pattern)}; stdout:\n${seen.slice(-2000)}`)))
    const timer = setTimeout(() => finish(() => reject(new Error(`${child.name} did not print ${String(pattern)} within ${timeoutMs} ms; stdout:\n${seen.slice(-2000)}`))), timeoutMs)
    const finish = (settle: () => void): void => {
      clearTimeout(timer)
      stdout.off('data', onData)
      child.process.off('exit', onExit)
      // Keep draining, so a chatty child never blocks on a full pipe.
      stdout.resume()
      settle()
    }
    stdout.on('data', onData)
    child.process.once('exit', onExit)
  })
}

/** Polls a file the child logs to until it matches. */
export async function waitForFileLine (child: Child, file: string, pattern: RegExp, timeoutMs: number, stderrFile: string): Promise<RegExpMatchArray> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const text = safeRead(file)
    const match = pattern.exec(text)
    if (match !== null) return match
    const tail = (): string => `\n--- ${file} (tail) ---\n${text.slice(-2000)}\n--- stderr ---\n${safeRead(stderrFile).slice(-2000)}`
    if (child.exitInfo !== undefined) throw new Error(`${child.name} exited (${child.exitInfo}) before logging ${String(pattern)}${tail()}`)
    if (Date.now() > deadline) throw new Error(`${child.name} did not log ${String(pattern)} within ${timeoutMs} ms${tail()}`)
    await sleep(50)
  }
}

/** Resolves once something accepts TCP connections on the port. */
export async function waitForPort (port: number, timeoutMs: number, child: Child): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1')
      socket.once('connect', () => { socket.destroy(); resolve(true) })
      socket.once('error', () => { socket.destroy(); resolve(false) })
    })
    if (open) return
    if (child.exitInfo !== undefined) throw new Error(`${child.name} exited (${child.exitInfo}) before listening on ${port}`)
    if (Date.now() > deadline) throw new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`)
    await sleep(50)
  }
}

export function safeRead (file: string): string {
  try {
    return readFileSync(file, 'utf8')
  } catch {
    return ''
  }
}
