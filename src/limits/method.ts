import type { IncomingHttpHeaders } from 'node:http'

/**
 * The method an app may act on instead of the request's own: method-override headers,
 * honoured by Express's method-override, Laravel, Symfony, Spring and ASP.NET. A client
 * behind a rule `GET /expensive` could otherwise send `POST /expensive` with
 * `X-HTTP-Method-Override: GET`, match no rule, and be served the GET by such an app.
 */

/** The headers the frameworks read, each honoured by some and ignored by others. */
const OVERRIDE_HEADERS = ['x-http-method-override', 'x-http-method', 'x-method-override'] as const

const TOKEN = /^[A-Za-z]+$/

export type MethodOverride =
  | { readonly ok: true, readonly method: string | undefined }
  | { readonly ok: false }

/**
 * The one method the override headers name, upper-cased; undefined when none is sent.
 * Not ok when they name more than one (or a repeated header joined into a list): an app
 * reads one of them and we cannot know which.
 */
export function overriddenMethod (headers: IncomingHttpHeaders): MethodOverride {
  const named = new Set<string>()
  for (const name of OVERRIDE_HEADERS) {
    const value = headers[name]
    if (value === undefined) continue
    if (typeof value !== 'string' || !TOKEN.test(value.trim())) return { ok: false }
    named.add(value.trim().toUpperCase())
  }
  if (named.size > 1) return { ok: false }
  return { ok: true, method: [...named][0] }
}
