import { connect } from 'node:net'

export interface RawResponse {
  /** Everything the server wrote before it closed the connection (or the wait ended). */
  readonly text: string
  /** The status code of the first response, NaN when none came. */
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  /** The body of the first response (after the blank line). */
  readonly body: string
  /** True when the server closed the connection. */
  readonly closed: boolean
}

/**
 * Writes `request` as is on a fresh TCP connection and reads until the server closes it
 * or `waitMs` passes: for request targets and protocol errors that HTTP clients would
 * normalise or refuse to send. Send `connection: close` to get the answer promptly.
 */
export async function rawExchange (port: number, request: string | Buffer, waitMs = 5000): Promise<RawResponse> {
  return await new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
    const chunks: Buffer[] = []
    let closed = false
    const finish = (): void => {
      clearTimeout(timer)
      socket.destroy()
      resolve(parse(Buffer.concat(chunks).toString('latin1'), closed))
    }
    const timer = setTimeout(finish, waitMs)
    socket.once('connect', () => { socket.write(request) })
    socket.on('data', (chunk: Buffer) => chunks.push(chunk))
    socket.once('end', () => { closed = true; finish() })
    socket.once('close', () => { closed = true; finish() })
    socket.once('error', (error: NodeJS.ErrnoException) => {
      // The server may reset a connection it refused once it has answered.
      if (error.code === 'ECONNRESET') {
        closed = true
        finish()
        return
      }
      clearTimeout(timer)
      reject(error)
    })
  })
}

function parse (text: string, closed: boolean): RawResponse {
  const end = text.indexOf('\r\n\r\n')
  const head = end === -1 ? text : text.slice(0, end)
  const [statusLine = '', ...lines] = head.split('\r\n')
  const headers: Record<string, string> = {}
  for (const line of lines) {
    const colon = line.indexOf(':')
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim()
  }
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1]
  return { text, status: status === undefined ? Number.NaN : Number(status), headers, body: end === -1 ? '' : text.slice(end + 4), closed }
}
