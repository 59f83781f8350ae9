import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { connect } from 'node:net'
import type { Test } from 'tap'
import { freePort } from './ports'
import { killAndWait, reapOnExit } from './reap'

export interface RedisServer {
  readonly port: number
  /** `redis://127.0.0.1:PORT` */
  readonly url: string
  /** The redis-server process id (the current one after `restart`); undefined once killed. */
  readonly pid: number | undefined
  /** SIGKILLs the server (no shutdown, no goodbye to clients) and waits for it to exit. */
  kill(): Promise<void>
  /** Kills the server if it still runs, then starts an empty one on the same port. */
  restart(): Promise<void>
  /** SIGSTOP: the server keeps its connections but answers nothing (a hung Redis). */
  pause(): void
  /** SIGCONT after `pause`. */
  resume(): void
}

/** How long a fresh redis-server gets to answer PING: it takes ~10 ms when idle. */
const READY_TIMEOUT_MS = 5000
const POLL_INTERVAL_MS = 25
/** How many times to pick another port when one taken since `freePort` made redis-server exit. */
const PORT_ATTEMPTS = 3
const OUTPUT_TAIL_CHARS = 2000

/**
 * Starts a real redis-server on a free port, without persistence, and resolves once it
 * answers PING. Teardown kills it. Only `t.teardown` is used, so the benchmark can pass
 * its own process registry instead of a tap Test.
 */
export async function startRedis (t: Pick<Test, 'teardown'>): Promise<RedisServer> {
  let child: ChildProcess | undefined
  t.teardown(async () => {
    if (child !== undefined) await killAndWait(child)
  })

  let port = 0
  for (let attempt = 1; ; attempt++) {
    port = await freePort()
    try {
      child = await spawnRedis(port)
      break
    } catch (err) {
      if (!(err instanceof PortTakenError) || attempt === PORT_ATTEMPTS) throw err
    }
  }

  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    get pid () {
      return child?.exitCode === null && child.signalCode === null ? child.pid : undefined
    },
    async kill () {
      if (child !== undefined) await killAndWait(child)
    },
    async restart () {
      if (child !== undefined) await killAndWait(child)
      child = undefined
      child = await spawnRedis(port)
    },
    pause () {
      child?.kill('SIGSTOP')
    },
    resume () {
      child?.kill('SIGCONT')
    }
  }
}

class PortTakenError extends Error {}

/**
 * One redis-server on `port`, resolved once it answers PING. `extra` is appended to the
 * command line (cluster mode, `--replicaof`); `binary` is `redis-sentinel` for a sentinel.
 */
export async function spawnRedis (port: number, extra: readonly string[] = [], binary = 'redis-server'): Promise<ChildProcess> {
  const child = spawn(binary, [
    ...(binary === 'redis-sentinel' ? extra : ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...extra])
  ], { stdio: ['ignore', 'pipe', 'pipe'] })
  reapOnExit(child)

  let output = ''
  const collect = (chunk: Buffer): void => {
    output = (output + chunk.toString()).slice(-OUTPUT_TAIL_CHARS)
  }
  child.stdout?.on('data', collect)
  child.stderr?.on('data', collect)

  let failure: Error | undefined
  child.once('error', (err: NodeJS.ErrnoException) => {
    failure = err.code === 'ENOENT'
      ? new Error('redis-server is not installed or not on PATH; the tests need a real Redis (apt-get install redis-server)')
      : err
  })
  child.once('exit', (code, signal) => {
    failure ??= /Address already in use/i.test(output)
      ? new PortTakenError(`port ${port} was taken before redis-server could bind it`)
      : new Error(`redis-server exited (code ${String(code)}, signal ${String(signal)}) before answering PING:\n${output}`)
  })

  const deadline = Date.now() + READY_TIMEOUT_MS
  while (failure === undefined) {
    if (await answersPing(port)) return child
    if (Date.now() > deadline) {
      await killAndWait(child)
      throw new Error(`redis-server on port ${port} did not answer PING within ${READY_TIMEOUT_MS} ms:\n${output}`)
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL_MS))
  }
  throw failure
}

/** One inline PING over a raw socket: no client library, no retry logic to second-guess. */
export async function answersPing (port: number): Promise<boolean> {
  return await new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    let reply = ''
    const done = (ok: boolean): void => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(500, () => done(false))
    socket.once('error', () => done(false))
    socket.once('connect', () => socket.write('PING\r\n'))
    socket.on('data', (chunk) => {
      reply += chunk.toString()
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'))
    })
  })
}
