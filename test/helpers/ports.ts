import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'

/**
 * A TCP port that was free on 127.0.0.1 a moment ago. Another process may take it
 * before the caller binds it, so listen on port 0 instead wherever the code under test
 * allows it; this is for the processes that cannot report the port they got
 * (redis-server).
 */
export async function freePort (): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', resolve)
  })
  const { port } = server.address() as AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}
