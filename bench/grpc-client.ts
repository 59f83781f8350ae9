import { connect, constants, type ClientHttp2Session } from 'node:http2'
import { status } from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import { loadProtos, RLS_SERVICE, SHOULD_RATE_LIMIT, type Code } from '../src/grpc/proto'

/**
 * The gRPC row's client: ShouldRateLimit with one `api_key` descriptor, as unary gRPC
 * calls over one node:http2 session (every call a stream of one HTTP/2 connection, as
 * Envoy multiplexes its calls to a rate limit host), the messages encoded and decoded by
 * the repository's own .proto files. Not grpc-js's client: on the 2 shared cores of
 * the bench machine it spent ~370 µs of CPU per call, as much as tollgate's server, and
 * took that from what the row measures; this one ~190 µs (wrk, the HTTP rows' client, is
 * C). Used by bench/grpc-loadgen.ts for the load and by the bench's check before the rounds.
 */

/** The part of a reply the bench reads, as decoded with LOADER_OPTIONS (unset messages are null). */
export interface Answer {
  overall_code: Code
  statuses: ReadonlyArray<{ code: Code, current_limit: { name: string } | null }>
}

/** A call that got no answer: the gRPC status (by name) or the transport's error. */
export class CallError extends Error {
  constructor (readonly code: string, message: string) {
    super(message)
  }
}

/** As wrk's `--timeout 5s` for the HTTP rows: a call unanswered by then is an error (DEADLINE_EXCEEDED). */
const CALL_TIMEOUT_MS = 5000

export interface RlsCaller {
  /** One ShouldRateLimit call; rejects with a CallError. */
  ask: (key: string) => Promise<Answer>
  /** Resolves once the connection is up; rejects after `timeoutMs`. */
  ready: (timeoutMs: number) => Promise<void>
  close: () => void
}

const HEADERS = {
  [constants.HTTP2_HEADER_METHOD]: 'POST',
  [constants.HTTP2_HEADER_PATH]: SHOULD_RATE_LIMIT,
  [constants.HTTP2_HEADER_CONTENT_TYPE]: 'application/grpc',
  [constants.HTTP2_HEADER_TE]: 'trailers'
}

/** A gRPC message on the wire: not compressed (0), its length (uint32, big-endian), the bytes. */
function frame (message: Buffer): Buffer {
  const out = Buffer.alloc(5 + message.length)
  out.writeUInt32BE(message.length, 1)
  message.copy(out, 5)
  return out
}

function statusName (code: number): string {
  return status[code] ?? `status ${code}`
}

export function rlsCaller (address: string, domain: string): RlsCaller {
  // A method of a service in our .proto files (proto-loader types entries as a union).
  const method = (loadProtos()[RLS_SERVICE] as Record<string, MethodDefinition<unknown, Answer>>).ShouldRateLimit
  if (method === undefined) throw new Error('the protos have no ShouldRateLimit method')
  const session: ClientHttp2Session = connect(`http://${address}`)
  // A dead session fails every call with its error; without a listener it would throw.
  let broken: Error | undefined
  session.on('error', (error) => { broken = error })
  // Encoded once per key: the load measures tollgate, not the encoder.
  const bodies = new Map<string, Buffer>()
  const body = (key: string): Buffer => {
    let b = bodies.get(key)
    if (b === undefined) {
      b = frame(method.requestSerialize({ domain, descriptors: [{ entries: [{ key: 'api_key', value: key }] }] }))
      bodies.set(key, b)
    }
    return b
  }
  return {
    ask: async (key) => await new Promise((resolve, reject) => {
      if (broken !== undefined || session.destroyed) {
        reject(new CallError('UNAVAILABLE', broken?.message ?? 'the session is closed'))
        return
      }
      const stream = session.request(HEADERS)
      let timedOut = false
      stream.setTimeout(CALL_TIMEOUT_MS, () => {
        timedOut = true
        stream.close(constants.NGHTTP2_CANCEL)
      })
      const chunks: Buffer[] = []
      let grpcStatus: string | undefined
      stream.on('response', (headers) => { grpcStatus ??= headers['grpc-status']?.toString() })
      stream.on('trailers', (trailers) => { grpcStatus = trailers['grpc-status']?.toString() })
      stream.on('data', (chunk: Buffer) => chunks.push(chunk))
      stream.on('error', (error) => { if (!timedOut) reject(new CallError('UNAVAILABLE', error.message)) })
      stream.on('close', () => {
        if (timedOut) return reject(new CallError('DEADLINE_EXCEEDED', `no answer within ${CALL_TIMEOUT_MS} ms`))
        if (grpcStatus !== '0') return reject(new CallError(grpcStatus === undefined ? 'UNAVAILABLE' : statusName(Number(grpcStatus)), `grpc-status ${grpcStatus ?? 'missing'}`))
        const data = Buffer.concat(chunks)
        if (data.length < 5 || data.length !== 5 + data.readUInt32BE(1)) return reject(new CallError('INTERNAL', `a reply of ${data.length} bytes is not one gRPC message`))
        resolve(method.responseDeserialize(data.subarray(5)))
      })
      stream.end(body(key))
    }),
    ready: async (timeoutMs) => await new Promise((resolve, reject) => {
      if (session.connecting === false && broken === undefined) return resolve()
      const timer = setTimeout(() => reject(new Error(`no HTTP/2 connection to ${address} within ${timeoutMs} ms`)), timeoutMs)
      session.once('connect', () => { clearTimeout(timer); resolve() })
      session.once('error', (error) => { clearTimeout(timer); reject(error) })
    }),
    close: () => session.close()
  }
}
