import type { IncomingHttpHeaders } from 'node:http'

/** The decision API's path; Envoy's `path_prefix` puts the original path after it. */
export const AUTHORIZE_PATH = '/v1/authorize'

/**
 * Where each gateway says what the original request was:
 * - nginx `auth_request`: the example config sets `X-Original-Method` and `X-Original-URI`;
 * - Traefik `forwardAuth`: `X-Forwarded-Method` and `X-Forwarded-Uri`, always;
 * - Envoy `ext_authz` (HTTP): the original method, and the original path after its
 *   `path_prefix` (`/v1/authorize/upload?x=1` for `/upload?x=1`).
 */
const URI_HEADERS = ['x-original-uri', 'x-forwarded-uri'] as const
const METHOD_HEADERS = ['x-original-method', 'x-forwarded-method'] as const

const TOKEN = /^[A-Za-z]+$/

export type Original =
  | { readonly ok: true, readonly method: string, readonly target: string }
  | { readonly ok: false, readonly reason: string }

const refuse = (reason: string): Original => ({ ok: false, reason })

/**
 * The method and target of the request a gateway asks about. Every source present must
 * agree: a gateway sets its own headers, but passes on the client's others, so a client
 * behind Traefik could add `X-Original-URI: /public/x` to be judged on a path it is not
 * asking for. Two sources that disagree are refused rather than one of them believed.
 */
export function originalRequest (method: string, url: string, headers: IncomingHttpHeaders): Original {
  const targets = new Set<string>()
  for (const name of URI_HEADERS) {
    const value = headers[name]
    if (value === undefined) continue
    if (typeof value !== 'string') return refuse(`${name} was sent more than once`)
    targets.add(value)
  }
  // Envoy: only below the prefix (`/v1/authorize/...`); `/v1/authorize?x` is the bare endpoint.
  if (url.startsWith(AUTHORIZE_PATH + '/')) targets.add(url.slice(AUTHORIZE_PATH.length))
  if (targets.size === 0) {
    return refuse('no original request: send X-Original-URI (nginx) or X-Forwarded-Uri (Traefik), or ask for /v1/authorize/<path> (Envoy\'s path_prefix)')
  }
  if (targets.size > 1) return refuse('the original request\'s URI is given twice, differently (X-Original-URI, X-Forwarded-Uri, path after /v1/authorize)')
  const methods = new Set<string>()
  for (const name of METHOD_HEADERS) {
    const value = headers[name]
    if (value === undefined) continue
    if (typeof value !== 'string' || !TOKEN.test(value)) return refuse(`${name} must be one method name`)
    methods.add(value.toUpperCase())
  }
  if (methods.size > 1) return refuse('the original request\'s method is given twice, differently (X-Original-Method, X-Forwarded-Method)')
  const [target] = targets
  const [named] = methods
  return target === undefined ? refuse('no original request') : { ok: true, method: named ?? method, target }
}
