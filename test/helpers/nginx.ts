import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'tap'
import { NGINX, nginxConfig } from '../../bench/nginx'
import { killAndWait, reapOnExit } from './reap'

/** Why the nginx tests cannot run here, or false. */
export function nginxMissing (): string | false {
  return existsSync(NGINX) ? false : `${NGINX} is not installed (apt-get install nginx; .ci/run does)`
}

/**
 * A real nginx, as a child of the test, with every path (pid, logs, temp dirs) in a temp
 * dir. `httpBlock` is what goes inside `http { }`: a shipped example with its ports put
 * in. Resolves once nginx accepts connections on `port`.
 */
export async function startNginx (t: Test, httpBlock: string, port: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-nginx-'))
  const conf = join(dir, 'nginx.conf')
  // The bench's nginx.conf around the block: one worker, every path inside `dir`.
  writeFileSync(conf, nginxConfig(dir, httpBlock))
  const child = spawn(NGINX, ['-p', dir, '-e', join(dir, 'error.log'), '-c', conf, '-g', 'daemon off; master_process on;'], { stdio: ['ignore', 'ignore', 'pipe'] })
  reapOnExit(child)
  let stderr = ''
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  t.teardown(async () => {
    await killAndWait(child)
    rmSync(dir, { recursive: true, force: true })
  })
  const deadline = Date.now() + 10_000
  while (!(await accepts(port))) {
    if (child.exitCode !== null) throw new Error(`nginx exited ${child.exitCode}: ${stderr}${readFileSync(join(dir, 'error.log'), 'utf8')}`)
    if (Date.now() > deadline) throw new Error(`nginx did not listen on ${port}: ${stderr}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

async function accepts (port: number): Promise<boolean> {
  return await new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    socket.once('connect', () => { socket.destroy(); resolve(true) })
    socket.once('error', () => resolve(false))
  })
}
