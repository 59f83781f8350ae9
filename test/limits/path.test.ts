import t from 'tap'
import { normaliseTarget } from '../../src/limits'

// The request target → the path a rule matches and the app receives. Each row is a
// spelling a client could use to reach one path while the rules see another.

const same: Array<[target: string, path: string, query?: string]> = [
  ['/', '/'],
  ['/expensive', '/expensive'],
  ['/expensive?a=1&b=%2e%2e/x', '/expensive'],
  // absolute-form, any case of the scheme, with or without a path
  ['http://x/expensive', '/expensive'],
  ['HTTP://X:8080/expensive', '/expensive'],
  ['https://user@x/upload/a', '/upload/a'],
  ['http://x', '/'],
  ['http://x?q=1', '/', '?q=1'],
  // dot segments, plain and encoded in every case mix
  ['/./expensive', '/expensive'],
  ['/public/../expensive', '/expensive'],
  ['/public/%2e%2e/expensive', '/expensive'],
  ['/public/%2E%2E/expensive', '/expensive'],
  ['/public/.%2e/expensive', '/expensive'],
  ['/public/%2e./expensive', '/expensive'],
  ['/public/%2e/../expensive', '/expensive'],
  ['/public/x/../../expensive', '/expensive'],
  ['/a/b/..', '/a/'],
  ['/a/b/.', '/a/b/'],
  ['/a/..', '/'],
  ['/.', '/'],
  // merged slashes, before and after dot removal
  ['//upload/a', '/upload/a'],
  ['/upload//a', '/upload/a'],
  ['///upload///a///', '/upload/a/'],
  ['/public//../expensive', '/expensive'],
  ['http://x//upload/a', '/upload/a'],
  // unreserved characters decoded, other escapes kept with upper-case hex
  ['/%65xpensive', '/expensive'],
  ['/exp%45nsive', '/expEnsive'],
  ['/%7Euser/%2D%5F', '/~user/-_'],
  ['/a%20b/%c3%a9', '/a%20b/%C3%A9'],
  ['/a%3bb', '/a%3Bb'],
  // `;` parameters on a normal segment are the app's business
  ['/expensive;v=1', '/expensive;v=1'],
  ['/a/...', '/a/...'],
  // a single escape of `%` is not double encoding
  ['/100%25', '/100%25'],
  ['/%25ab', '/%25ab'],
  // raw bytes above ASCII (Node hands them over one character per byte)
  ['/caf\u00c3\u00a9', '/caf%C3%A9']
]

t.test('normalises what the app would resolve anyway', async (t) => {
  for (const [target, path, query = target.includes('?') ? target.slice(target.indexOf('?')) : ''] of same) {
    t.strictSame(normaliseTarget(target), { ok: true, path, query }, target)
  }
})

t.test('the query string is kept exactly as sent', async (t) => {
  t.strictSame(normaliseTarget('/x/../y?a=%2e%2e/..&b=%7e'), { ok: true, path: '/y', query: '?a=%2e%2e/..&b=%7e' })
})

const refused: Array<[target: string, reason: RegExp]> = [
  // encoded separators inside a segment
  ['/public/..%2fexpensive', /encoded \/ or \\/],
  ['/public%2F..%2Fexpensive', /encoded \/ or \\/],
  ['/public/..%5cexpensive', /encoded \/ or \\/],
  ['/public/%5C', /encoded \/ or \\/],
  // raw backslash: WHATWG URL reads it as a slash
  ['/public\\..\\expensive', /backslash/],
  ['http://x\\expensive', /backslash/],
  // double encoding of a dot, slash or backslash, however it is spelled
  ['/public/%252e%252e/expensive', /double-encoded/],
  ['/public/%252E./expensive', /double-encoded/],
  ['/a%252fb', /double-encoded/],
  ['/a%255Cb', /double-encoded/],
  ['/public/%25%32%65%25%32%65/expensive', /double-encoded/],
  // a fragment: WHATWG URL cuts the path there
  ['/expensive#/../public/x', /fragment/],
  ['/public/x?#', /fragment/],
  // Tomcat's `..;` climbs
  ['/public/..;/expensive', /; parameters/],
  ['/public/..;x=1/expensive', /; parameters/],
  ['/public/.;/expensive', /; parameters/],
  ['/public/%2e%2e;/expensive', /; parameters/],
  // above the root
  ['/../expensive', /above the root/],
  ['/..', /above the root/],
  ['/public/../../expensive', /above the root/],
  ['http://x/%2e%2e/expensive', /above the root/],
  // control characters, raw and encoded; invalid escapes
  ['/expensive%00.json', /control/],
  ['/a%0d%0ax', /control/],
  ['/a%7f', /control/],
  ['/a\u0000b', /control/],
  ['/a b', /control character or space/],
  ['/public/%c0%ae%c0%ae/expensive', /overlong/],
  ['/public/..%C0%AFexpensive', /overlong/],
  ['/a%zz', /invalid percent/],
  ['/a%4', /invalid percent/],
  ['/a%', /invalid percent/],
  ['/a\u2215b', /ISO-8859-1/],
  // not a path at all
  ['*', /not a path/],
  ['expensive', /not a path/],
  ['ftp://x/expensive', /not a path/],
  ['http:/x/expensive', /not a path/],
  ['', /not a path/],
  ['?a=1', /not a path/]
]

t.test('refuses what cannot be normalised safely', async (t) => {
  for (const [target, reason] of refused) {
    const result = normaliseTarget(target)
    t.equal(result.ok, false, target)
    if (!result.ok) t.match(result.reason, reason, target)
  }
})

t.test('normalising twice changes nothing', async (t) => {
  for (const [target] of same) {
    const once = normaliseTarget(target)
    if (!once.ok) continue
    t.strictSame(normaliseTarget(once.path + once.query), once, target)
  }
})
