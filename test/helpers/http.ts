import type { IncomingHttpHeaders } from 'node:http'
import type { Readable } from 'node:stream'
import { request } from 'undici'
import type { Dispatcher } from 'undici'

/** undici's own request options (`dispatcher`, `signal`, `headersTimeout`, ...). */
export type RequestOptions = NonNullable<Parameters<typeof request>[1]>
export type RequestHeaders = Record<string, string | string[]>
export type RequestBody = string | Uint8Array | Readable | null

export interface TextResponse {
  readonly status: number
  /** Lower-case names; repeated headers such as `set-cookie` are arrays. */
  readonly headers: IncomingHttpHeaders
  readonly body: string
  /** `JSON.parse(body)`, with the status and body in the error when it is not JSON. */
  json(): unknown
}

/** Any method, body read whole as text: for the small bodies most tests exchange. */
export async function send (
  method: Dispatcher.HttpMethod,
  url: string,
  headers: RequestHeaders = {},
  body: RequestBody = null,
  options: RequestOptions = {}
): Promise<TextResponse> {
  const res = await request(url, { ...options, method, headers, body })
  const text = await res.body.text()
  return {
    status: res.statusCode,
    headers: res.headers,
    body: text,
    json () {
      try {
        return JSON.parse(text)
      } catch {
        throw new Error(`${method} ${url} answered ${res.statusCode} with a body that is not JSON: ${text.slice(0, 500)}`)
      }
    }
  }
}

export async function get (url: string, headers?: RequestHeaders, options?: RequestOptions): Promise<TextResponse> {
  return await send('GET', url, headers, null, options)
}

export async function post (url: string, body: RequestBody, headers?: RequestHeaders, options?: RequestOptions): Promise<TextResponse> {
  return await send('POST', url, headers, body, options)
}

/** POST `value` as JSON with `content-type: application/json`. */
export async function postJson (url: string, value: unknown, headers: RequestHeaders = {}, options?: RequestOptions): Promise<TextResponse> {
  return await send('POST', url, { 'content-type': 'application/json', ...headers }, JSON.stringify(value), options)
}

/**
 * undici's `request` as is, for big or slow bodies: the response body is a stream that
 * the caller must consume or destroy (an unread body holds its connection).
 */
export const rawRequest = request
