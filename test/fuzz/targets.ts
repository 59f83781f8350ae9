import fc from 'fast-check'

/*
 * Request targets for the fuzz tests: any target a client could write on the request
 * line, and the many spellings of one path that every app resolves to that path.
 */

/** Characters and escapes that mean something to a path parser, or to one of the apps behind us. */
const PATH_PIECES = ['/', '/', '.', '..', '%', '%2e', '%2E', '%2f', '%2F', '%5c', '%5C', '%25', '%252e', '%00', '%7f', '%C0%AE', '%c1%9c',
  '%zz', '%4', '%7e', '%41', '%e2%98%83', '\\', '#', '?', '&', '=', ';', ';x', ':', '@', '!', '$', '*', '+', ',', '~', '-', '_',
  'a', 'Z', '0', 'é', '☃', '😀', '\u0000', '\u0001', '\u007f', '\u0085', '\u00ff', '\u2028', ' ', '\t', 'expensive', 'public', 'upload']

/** Any target: origin-form, absolute-form, asterisk-form, and what is none of them. */
export const anyTarget = fc.oneof(
  fc.array(fc.constantFrom(...PATH_PIECES), { maxLength: 30 }).map((pieces) => '/' + pieces.join('')),
  fc.array(fc.constantFrom(...PATH_PIECES), { maxLength: 30 }).map((pieces) => pieces.join('')),
  fc.tuple(fc.constantFrom('http', 'HTTP', 'https', 'hTTp', 'ftp', 'http:', ''), fc.string({ maxLength: 12 }), fc.array(fc.constantFrom(...PATH_PIECES), { maxLength: 20 }))
    .map(([scheme, host, pieces]) => `${scheme}://${host}${pieces.join('')}`),
  fc.constantFrom('*', '/', '//', '/..', '/.', 'http://', 'http://x', 'http://x?', '?', '/?#', '/%', '/' + 'a/'.repeat(3000)),
  fc.string({ unit: 'binary', maxLength: 60 }).map((text) => '/' + text)
)

const hex = (code: number, upper: boolean): string => {
  const digits = code.toString(16).padStart(2, '0')
  return `%${upper ? digits.toUpperCase() : digits}`
}

/** One character of a path as a client may spell it: as is, in another case, or percent-encoded. */
const spelledChar = (char: string): fc.Arbitrary<string> =>
  fc.constantFrom('plain', 'upper', 'lower', 'escaped', 'ESCAPED').map((how) => {
    if (how === 'upper') return char.toUpperCase()
    if (how === 'lower') return char.toLowerCase()
    if (how === 'plain') return char
    return hex(char.charCodeAt(0), how === 'ESCAPED')
  })

const spelledSegment = (segment: string): fc.Arbitrary<string> =>
  fc.tuple(...[...segment].map(spelledChar)).map((chars) => chars.join(''))

/** `..` in its spellings: every one of them climbs (RFC 3986 §5.2.4 after decoding). */
const DOT_DOT = ['..', '%2e%2e', '%2E%2E', '.%2e', '%2E.', '.%2E']
const DOT = ['.', '%2e', '%2E']

/** What a client may put before a segment without changing the path it names: `./`, `//`, `x/../`. */
const detour: fc.Arbitrary<string[]> = fc.oneof(
  fc.constantFrom(...DOT).map((dot) => [dot]),
  fc.constant<string[]>(['']),
  fc.tuple(fc.stringMatching(/^[a-z0-9_~-]{1,6}$/).chain(spelledSegment), fc.constantFrom(...DOT_DOT)).map((pair) => [...pair])
)

export interface Spelling {
  /** The target as written on the request line. */
  readonly target: string
  /** What the query part of the target is, kept as sent. */
  readonly query: string
}

/**
 * A spelling of `path` (an origin-form path of plain unreserved segments) that every app
 * resolves to `path`, up to the letter case: detours before each segment, random case,
 * percent-encoded unreserved characters, absolute-form, a query string.
 */
export function spellingOf (path: string): fc.Arbitrary<Spelling> {
  const segments = path.split('/').slice(1)
  const spelled = fc.tuple(...segments.map((segment) => fc.tuple(fc.array(detour, { maxLength: 3 }), spelledSegment(segment))))
    .map((parts) => parts.flatMap(([detours, segment]) => [...detours.flat(), segment]).join('/'))
  const origin = fc.oneof(fc.constant(''), fc.tuple(fc.constantFrom('http', 'HTTP', 'https', 'Http'),
    // Hosts WHATWG URL accepts: the router refuses the others (`http://a.0/`, port 65536) with a 400.
    fc.stringMatching(/^[a-z][a-z0-9-]{0,7}(\.[a-z]{1,6})?$/), fc.option(fc.integer({ min: 1, max: 65535 })))
    .map(([scheme, host, port]) => `${scheme}://${host}${port === null ? '' : `:${port}`}`))
  const query = fc.oneof(fc.constant(''), fc.stringMatching(/^\?[a-z0-9=&%./]{0,20}$/))
  return fc.tuple(origin, spelled, query).map(([prefix, rest, q]) => ({ target: `${prefix}/${rest}${q}`, query: q }))
}
