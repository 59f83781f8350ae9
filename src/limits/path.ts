/**
 * Request target → the path the app will act on, so that a route rule is matched, and
 * the request forwarded, on one and the same path. Without it a client picks a
 * spelling the rules do not know but the app resolves to a limited path:
 * `/public/%2e%2e/expensive` is `/expensive` to WHATWG URL (Node, undici, most
 * frameworks) and `GET http://x/expensive` is `/expensive` to every server.
 *
 * What is done (RFC 3986 §6.2.2, §5.2.4; RFC 9112 §3.2):
 * - absolute-form (`http://host/p`) is reduced to its path;
 * - percent-encoded unreserved characters (`A-Z a-z 0-9 - . _ ~`) are decoded, other
 *   escapes get upper-case hex: `%7e` and `~`, `%2e` and `.` are one character;
 * - `//` is merged into `/`: what reaches the app is the merged path, so an app that
 *   does not merge (Express) and one that does (nginx, Go's ServeMux) see the same;
 * - dot segments are removed, after decoding, so `.%2e` and `%2E%2e` are `..`.
 * The query string is kept exactly as sent.
 *
 * What is refused, because some app would read it differently from us:
 * - an encoded `/` or `\` (`%2F`, `%5C`): one segment to us, two to an app that decodes
 *   before it splits (Spring, Tomcat with ALLOW_ENCODED_SLASH, many static servers);
 * - a raw `\`: WHATWG URL reads it as `/` in http(s) URLs;
 * - a double-encoded dot, slash or backslash (`%252e`, `%252f`, `%255c`): we decode
 *   once, as we must, but an app that decodes twice would act on a `..` we never saw;
 * - `#`: a fragment is never sent; WHATWG URL would cut the path there, we would not;
 * - a dot segment with `;` parameters (`..;x`): Tomcat and Jetty strip them and climb;
 * - a `..` that would climb above the root: no app has a parent of `/`;
 * - control characters, raw or encoded (`%00` truncates paths in C-based servers),
 *   overlong UTF-8 lead bytes (`%C0%AE`, a `.` to lenient decoders), invalid escapes
 *   (`%zz`, `%4`), characters above U+00FF;
 * - a target that is not a path (`*` is answered by the caller, `x:y` is nothing).
 * Bytes 0x80–0xFF (raw UTF-8 as Node hands it over, one character per byte) are
 * percent-encoded, as WHATWG URL would.
 */

export type NormalisedTarget =
  | {
    readonly ok: true
    /** The normalised path: starts with `/`, no query. */
    readonly path: string
    /** `?...` exactly as sent, or empty. */
    readonly query: string
  }
  | { readonly ok: false, readonly reason: string }

const ABSOLUTE_FORM = /^https?:\/\/[^/?]*/i
const HEX = /^[0-9A-Fa-f]{2}$/
const UNRESERVED = /^[A-Za-z0-9\-._~]$/
/** The escape of a dot, a slash or a backslash, encoded a second time. */
const DOUBLE_ENCODED = /%25(2E|2F|5C)/i

const refuse = (reason: string): NormalisedTarget => ({ ok: false, reason })

export function normaliseTarget (target: string): NormalisedTarget {
  if (target.includes('#')) return refuse('a fragment (#) is not part of a request')
  if (target.includes('\\')) return refuse('a backslash (\\) is read as / by some apps')
  const absolute = ABSOLUTE_FORM.exec(target)
  const origin = absolute === null ? target : target.slice(absolute[0].length)
  const queryAt = origin.indexOf('?')
  const rawPath = queryAt === -1 ? origin : origin.slice(0, queryAt)
  const query = queryAt === -1 ? '' : origin.slice(queryAt)
  // Absolute-form with nothing after the authority (`http://x`, `http://x?q`) is `/`.
  const path = absolute !== null && rawPath === '' ? '/' : rawPath
  if (!path.startsWith('/')) return refuse('the request target is not a path')

  const segments = path.slice(1).split('/')
  const out: string[] = []
  let trailingSlash = false
  for (let i = 0; i < segments.length; i++) {
    const last = i === segments.length - 1
    const decoded = decodeSegment(segments[i] ?? '')
    if (typeof decoded !== 'string') return decoded
    trailingSlash = false
    if (decoded === '' || decoded === '.') {
      // An empty segment is a `//` (merged) or the trailing slash (kept).
      trailingSlash = last
    } else if (decoded === '..') {
      if (out.pop() === undefined) return refuse('a dot segment (..) climbs above the root')
      trailingSlash = last
    } else {
      const params = decoded.indexOf(';')
      const name = params === -1 ? decoded : decoded.slice(0, params)
      if (name === '.' || name === '..') return refuse('a dot segment with ; parameters')
      out.push(decoded)
    }
  }
  const joined = '/' + out.join('/')
  return { ok: true, path: trailingSlash && out.length > 0 ? joined + '/' : joined, query }
}

/** Visible ASCII and no escape: the common segment, which needs no work. */
const PLAIN = /^[\x21-\x24\x26-\x7e]*$/

/** One segment with its escapes decoded where safe; a refusal where not. */
function decodeSegment (segment: string): string | NormalisedTarget {
  // Measured: skipping the loop for such segments saves a quarter of the CPU on a
  // typical path (0.6 µs instead of 0.75 µs a request).
  if (PLAIN.test(segment)) return segment
  let out = ''
  for (let i = 0; i < segment.length; i++) {
    const char = segment.charAt(i)
    const code = segment.charCodeAt(i)
    if (char === '%') {
      const hex = segment.slice(i + 1, i + 3)
      if (!HEX.test(hex)) return refuse('an invalid percent-encoding')
      const byte = parseInt(hex, 16)
      const decoded = String.fromCharCode(byte)
      if (decoded === '/' || decoded === '\\') return refuse('an encoded / or \\ inside a segment')
      if (byte < 0x20 || byte === 0x7f) return refuse('an encoded control character')
      // Valid UTF-8 never has them; lenient decoders read `%C0%AE` as `.`, `%C0%AF` as `/`.
      if (byte === 0xc0 || byte === 0xc1) return refuse('an overlong UTF-8 encoding')
      out += UNRESERVED.test(decoded) ? decoded : `%${hex.toUpperCase()}`
      i += 2
    } else if (code <= 0x20 || code === 0x7f) {
      return refuse('a control character or space')
    } else if (code > 0xff) {
      return refuse('a character outside ISO-8859-1')
    } else if (code > 0x7e) {
      out += `%${code.toString(16).toUpperCase()}`
    } else {
      out += char
    }
  }
  // Checked on the decoded form: `%25%32%65` is `%252e` once decoded.
  if (DOUBLE_ENCODED.test(out)) return refuse('a double-encoded dot, slash or backslash')
  return out
}
