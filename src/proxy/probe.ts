import { connect } from 'node:net'
import { request } from 'undici'
import { messageOf } from '../errors'

export interface ProbeResult {
  readonly ok: boolean
  /** What was seen: the HTTP status, `connected`, or the error. */
  readonly detail: string
}

/**
 * Does the app answer? With `path`, an HTTP GET that must return 2xx or 3xx; without,
 * a TCP connect to the upstream's port. Never rejects.
 */
export async function probeUpstream (upstreamUrl: string, path: string | undefined, timeoutMs: number): Promise<ProbeResult> {
  const url = new URL(upstreamUrl)
  if (path !== undefined) {
    try {
      // Concatenated, not `new URL(path, origin)`: that reads `//host/x` as another host.
      const response = await request(`${url.origin}${path}`, {
        method: 'GET',
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
        signal: AbortSignal.timeout(timeoutMs)
      })
      await response.body.dump()
      return { ok: response.statusCode < 400, detail: `GET ${path} → ${response.statusCode}` }
    } catch (error) {
      return { ok: false, detail: `GET ${path}: ${messageOf(error)}` }
    }
  }
  const port = Number(url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : url.port)
  return await new Promise((resolve) => {
    // `URL.hostname` keeps an IPv6 literal's brackets (`[::1]`), which `connect` cannot resolve.
    const socket = connect({ host: url.hostname.replace(/^\[(.*)\]$/, '$1'), port, timeout: timeoutMs })
    const done = (result: ProbeResult): void => { socket.destroy(); resolve(result) }
    socket.once('connect', () => done({ ok: true, detail: `tcp ${url.host} connected` }))
    socket.once('timeout', () => done({ ok: false, detail: `tcp ${url.host}: no answer within ${timeoutMs} ms` }))
    socket.once('error', (error) => done({ ok: false, detail: `tcp ${url.host}: ${error.message}` }))
  })
}
