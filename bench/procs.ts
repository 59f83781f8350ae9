import { execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process'
import { readFileSync, rmSync } from 'node:fs'
import { connect } from 'node:net'
import { join, resolve } from 'node:path'
import { freePort } from '../test/helpers/ports'
import { answersPing } from '../test/helpers/redis'

/**
 * Child processes of the bench and the measurements taken on them. Every process the
 * bench starts goes through `startChild`, and is SIGKILLed when the bench ends, however
 * it ends: `stopAll` in the normal path, the `exit` handler after an uncaught error,
 * and the SIGINT/SIGTERM handlers for Ctrl-C.
 */

export const REPO_ROOT = resolve(__dirname, '..')
export const RUN_TS = join(REPO_ROOT, 'test', 'helpers', 'run-ts.js')

const running = new Set<ChildProcess>()
const tempDirs = new Set<string>()
let hooked = false

/** Removed when the bench exits, however it exits. */
export function removeOnExit (dir: string): void {
  hookExit()
  tempDirs.add(dir)
}

function cleanUpNow (): void {
  killAllNow()
  for (const dir of tempDirs) {
    try {
      rmSync(dir, { recursive: true, force: true })
    } catch {
      // best effort
    }
  }
}

function killAllNow (): void {
  for (const child of running) {
    try {
      child.kill('SIGKILL')
    } catch {
      // already gone
    }
  }
}

function hookExit (): void {
  if (hooked) return
  hooked = true
  process.once('exit', cleanUpNow)
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      process.stderr.write(`\nbench: ${signal}, killing ${running.size} child process(es)\n`)
      cleanUpNow()
      process.exit(130)
    })
  }
}

export interface Child {
  readonly name: string
  readonly process: ChildProcess
  readonly pid: number
  /** Resolves when the process has exited. */
  readonly exited: Promise<void>
  /** Set once it has exited. */
  exitInfo: string | undefined
}

export function startChild (name: string, command: string, args: readonly string[], options: SpawnOptions): Child {
  hookExit()
  const child = spawn(command, [...args], { cwd: REPO_ROOT, ...options })
  running.add(child)
  let resolveExit = (): void => {}
  const exited = new Promise<void>((resolve) => { resolveExit = resolve })
  const handle: Child = { name, process: child, pid: child.pid ?? -1, exited, exitInfo: undefined }
  child.once('exit', (code, signal) => {
    running.delete(child)
    handle.exitInfo = `code ${String(code)}, signal ${String(signal)}`
    resolveExit()
  })
  child.once('error', (error) => {
    running.delete(child)
    handle.exitInfo = `spawn error: ${error.message}`
    resolveExit()
  })
  if (child.pid === undefined) throw new Error(`could not start ${name} (${command})`)
  return handle
}

/** SIGKILLs the child unless it already exited, and resolves once it has. */
export async function stopChild (child: Child | undefined): Promise<void> {
  if (child === undefined || child.exitInfo !== undefined) return
  child.process.kill('SIGKILL')
  await child.exited
}

export async function stopAll (): Promise<void> {
  const waits: Array<Promise<void>> = []
  for (const child of running) {
    waits.push(new Promise((resolve) => {
      child.once('exit', () => resolve())
      child.kill('SIGKILL')
    }))
  }
  await Promise.all(waits)
}

/**
 * Waits for a line of the child's stdout that matches and returns its match. Rejects
 * when the child exits first or the time runs out, with what the child wrote.
 */
export async function waitForStdout (child: Child, pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray> {
  const stdout = child.process.stdout
  if (stdout === null || stdout === undefined) throw new Error(`${child.name}: stdout is not piped`)
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

/** Polls a file the child logs to until a line matches. */
export async function waitForFileLine (child: Child, file: string, pattern: RegExp, timeoutMs: number, stderrFile?: string): Promise<RegExpMatchArray> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    let text = ''
    try {
      text = readFileSync(file, 'utf8')
    } catch {
      // not created yet
    }
    const match = pattern.exec(text)
    if (match !== null) return match
    const tail = (): string => `\n--- ${file} (tail) ---\n${text.slice(-2000)}${stderrFile === undefined ? '' : `\n--- stderr ---\n${safeRead(stderrFile).slice(-2000)}`}`
    if (child.exitInfo !== undefined) throw new Error(`${child.name} exited (${child.exitInfo}) before logging ${String(pattern)}${tail()}`)
    if (Date.now() > deadline) throw new Error(`${child.name} did not log ${String(pattern)} within ${timeoutMs} ms${tail()}`)
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

export async function sleep (ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms))
}

/** Resolves once something accepts TCP connections on the port. */
export async function waitForPort (port: number, timeoutMs: number, child?: Child): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1')
      socket.once('connect', () => { socket.destroy(); resolve(true) })
      socket.once('error', () => { socket.destroy(); resolve(false) })
    })
    if (open) return
    if (child?.exitInfo !== undefined) throw new Error(`${child.name} exited (${child.exitInfo}) before listening on ${port}`)
    if (Date.now() > deadline) throw new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`)
    await sleep(50)
  }
}


export interface RedisChild extends Child {
  readonly port: number
}

/** A real redis-server on a free port, without persistence; resolves once it answers PING. */
export async function startRedis (): Promise<RedisChild> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort()
    const child = startChild('redis-server', 'redis-server', [
      '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'
    ], { stdio: ['ignore', 'ignore', 'pipe'] })
    let stderr = ''
    child.process.stderr?.on('data', (chunk: Buffer) => { stderr = (stderr + chunk.toString()).slice(-2000) })
    const deadline = Date.now() + 5000
    while (child.exitInfo === undefined && Date.now() < deadline) {
      if (await answersPing(port)) return Object.assign(child, { port })
      await sleep(25)
    }
    await stopChild(child)
    if (attempt === 3) throw new Error(`redis-server did not answer PING on ${port} (${child.exitInfo ?? 'timeout'}): ${stderr}`)
  }
}

export const CLK_TCK = ((): number => {
  try {
    const value = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim())
    return Number.isFinite(value) && value > 0 ? value : 100
  } catch {
    return 100
  }
})()

/** CPU seconds (user + system, all threads) a process has used so far: /proc/PID/stat fields 14 and 15. */
export function cpuSeconds (pid: number): number {
  let stat: string
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  } catch (error) {
    throw new Error(`cannot read the CPU time of process ${pid}: it has exited (${(error as Error).message})`)
  }
  // Field 2 (comm) is in parentheses and may hold spaces: count from after its ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  // fields[0] is field 3 (state), so field 14 (utime) is fields[11] and 15 (stime) fields[12].
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK
}

/** Busy and total jiffies of the whole machine, from the first line of /proc/stat. */
export function machineJiffies (): { busy: number, total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]
  const values = line.trim().split(/\s+/).slice(1).map(Number)
  // user nice system idle iowait irq softirq steal guest guest_nice; guest is already in user.
  const total = values.slice(0, 8).reduce((a, b) => a + b, 0)
  const idle = values[3] + (values[4] ?? 0)
  return { busy: total - idle, total }
}
