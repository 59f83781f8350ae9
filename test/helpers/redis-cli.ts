import { execFile } from 'node:child_process'

/** Runs `redis-cli -p PORT ARGS...` and resolves with its stdout; rejects on a non-zero exit. */
export async function redisCli (port: number, ...args: string[]): Promise<string> {
  return await new Promise((resolve, reject) => {
    execFile('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { timeout: 60_000 }, (error, stdout, stderr) => {
      if (error !== null) reject(new Error(`redis-cli -p ${port} ${args.join(' ')}: ${error.message}\n${stderr}`))
      else resolve(stdout)
    })
  })
}

/** Polls `check` every 100 ms until it resolves true; rejects with `what` after `timeoutMs`. */
export async function until (what: string, check: () => Promise<boolean>, timeoutMs = 15_000): Promise<number> {
  const started = Date.now()
  while (Date.now() - started < timeoutMs) {
    if (await check().catch(() => false)) return Date.now() - started
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error(`${what}: not within ${timeoutMs} ms`)
}
