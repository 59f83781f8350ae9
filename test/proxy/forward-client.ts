import { request as httpRequest } from 'node:http'
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http'
import { connect } from 'node:net'
import { pipeline, Readable } from 'node:stream'
import { at } from '../helpers/at'

// Shared by the test/proxy/forward-*.test.ts files: clients that send what undici will
// not, and read what came back as it was on the wire.

interface NodeResponse {
  readonly status: number
  readonly headers: IncomingHttpHeaders
  /** Names and values as they came on the wire: repeats kept. */
  readonly rawHeaders: readonly string[]
  readonly body: Buffer
  /** The server answered `100 Continue`. */
  readonly sawContinue: boolean
  json(): unknown
}

interface NodeRequestOptions {
  method?: string
  headers?: OutgoingHttpHeaders
  body?: Buffer | Readable
  localAddress?: string
}

/**
 * One request through node:http on a fresh connection: unlike undici it sends any header
 * (`expect`, `keep-alive`, `upgrade`, `transfer-encoding`, hop-by-hop names in
 * `connection`) and the path exactly as given. With `expect: 100-continue` the body
 * waits for the server's `100 Continue`, as curl does.
 */
export async function nodeRequest (base: string, path: string, options: NodeRequestOptions = {}): Promise<NodeResponse> {
  const { hostname, port } = new URL(base)
  return await new Promise((resolve, reject) => {
    let sawContinue = false
    const req = httpRequest({
      host: hostname,
      port,
      path,
      method: options.method ?? 'GET',
      headers: options.headers,
      localAddress: options.localAddress,
      agent: false
    })
    req.once('error', reject)
    req.once('response', (res) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.once('error', reject)
      res.once('end', () => {
        const body = Buffer.concat(chunks)
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          rawHeaders: res.rawHeaders,
          body,
          sawContinue,
          json: () => JSON.parse(body.toString()) as unknown
        })
        // A `connection: keep-alive` request would otherwise keep this socket, and the
        // test process, alive.
        req.destroy()
      })
    })
    const sendBody = (): void => {
      const { body } = options
      if (body instanceof Readable) pipeline(body, req, (err) => { if (err != null) reject(err) })
      else req.end(body)
    }
    if (String(options.headers?.expect ?? '').toLowerCase() === '100-continue') {
      req.once('continue', () => {
        sawContinue = true
        sendBody()
      })
      req.flushHeaders()
    } else {
      sendBody()
    }
  })
}

/** Writes `text` on a raw socket and returns everything read until the server closes. */
export async function rawExchange (base: string, text: string): Promise<string> {
  const { hostname, port } = new URL(base)
  return await new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => socket.write(text))
    let received = ''
    socket.setEncoding('utf8')
    socket.on('data', (chunk: string) => { received += chunk })
    socket.once('error', reject)
    socket.once('end', () => resolve(received))
  })
}

/** The values of every `rawHeaders` entry named `name` (lower case), in wire order. */
export function rawValues (rawHeaders: readonly string[], name: string): string[] {
  const values: string[] = []
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (at(rawHeaders, i).toLowerCase() === name) values.push(at(rawHeaders, i + 1))
  }
  return values
}
