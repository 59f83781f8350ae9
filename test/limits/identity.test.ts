import t from 'tap'
import { parseConfig, type Config } from '../../src/config'
import { TollgateError } from '../../src/errors'
import { bearerOf, buildIdentifyKey, isWellFormedKey } from '../../src/limits/identity'

// limits/identity.ts in process, on values: which keys are well formed, what a Bearer
// Authorization carries, and who a key (or none) makes the caller.

function config (extra = ''): Config {
  const parsed = parseConfig(`plans:
  free: [ { max: 10, per: 1m } ]
  anonymous: [ { max: 5, per: 1m } ]
keys: [ { name: acme, key: acme-identity-unit-9f3e, plan: free } ]
${extra}`, {}, 'identity.yml')
  if (!parsed.ok) throw new Error(parsed.errors.join('\n'))
  return parsed.config
}

const errorOf = (value: unknown): string | undefined => value instanceof TollgateError ? value.code : undefined

t.test('isWellFormedKey: visible ASCII without a comma, at most 256 bytes', async (t) => {
  t.ok(isWellFormedKey('abc-DEF_123.~!'))
  t.ok(isWellFormedKey('x'.repeat(256)))
  t.notOk(isWellFormedKey('x'.repeat(257)), 'too long')
  t.notOk(isWellFormedKey('a,b'), 'a comma: two keys joined by a proxy')
  t.notOk(isWellFormedKey('a b'), 'a space')
  t.notOk(isWellFormedKey('clé'), 'not ASCII')
  t.notOk(isWellFormedKey(''), 'empty')
})

t.test('bearerOf: the Bearer scheme in any case, SP or HTAB; another scheme is the app\'s', async (t) => {
  t.equal(bearerOf('Bearer abc'), 'abc')
  t.equal(bearerOf('bEaReR\tabc'), 'abc')
  t.equal(bearerOf('Bearer'), '', 'empty credentials')
  t.equal(bearerOf('Basic dXNlcjpwYXNz'), undefined)
  t.equal(bearerOf(''), undefined)
})

t.test('buildIdentifyKey: a known key is its client, none is anonymous by IP, an unknown one is refused', async (t) => {
  const identify = buildIdentifyKey(config())
  t.same(identify('acme-identity-unit-9f3e', '10.0.0.1'), { client: 'acme', plan: 'free', subject: 'acme' })
  const subjectOf = (ip: string): string | undefined => {
    const who = identify(undefined, ip)
    return who instanceof TollgateError ? undefined : who.subject
  }
  t.match(identify(undefined, '10.0.0.1'), { client: 'anonymous', plan: 'anonymous' })
  t.match(subjectOf('10.0.0.1'), /^anon:/, 'an anonymous budget is the IP\'s')
  t.not(subjectOf('10.0.0.1'), subjectOf('10.0.0.2'), 'one budget per IP')
  t.equal(subjectOf('10.0.0.1'), subjectOf('10.0.0.1'))
  t.equal(errorOf(identify('nobody-key-0000', '10.0.0.1')), 'invalid_api_key')
  t.equal(errorOf(identify('a,b', '10.0.0.1')), 'malformed_api_key', 'malformed is refused before any lookup')
})

t.test('api_key.unknown: anonymous puts an unknown key on the anonymous plan; without that plan no key is 401', async (t) => {
  const lenient = buildIdentifyKey(config('api_key: { unknown: anonymous }'))
  t.match(lenient('nobody-key-0000', '10.0.0.1'), { client: 'anonymous', plan: 'anonymous' })
  const parsed = parseConfig('plans: { free: [ { max: 10, per: 1m } ] }\nkeys: [ { name: acme, key: acme-identity-unit-9f3e, plan: free } ]', {}, 'strict.yml')
  if (!parsed.ok) throw new Error(parsed.errors.join('\n'))
  t.equal(errorOf(buildIdentifyKey(parsed.config)(undefined, '10.0.0.1')), 'api_key_required')
})

t.test('a known key is remembered as presented: its later requests resolve the same, and only known keys are kept', async (t) => {
  const identify = buildIdentifyKey(config())
  for (let i = 0; i < 3; i++) t.same(identify('acme-identity-unit-9f3e', '10.0.0.1'), { client: 'acme', plan: 'free', subject: 'acme' }, `request ${i + 1}`)
  // A near miss after the known key was remembered is still unknown: the memory is by the exact key.
  t.equal(errorOf(identify('acme-identity-unit-9f3E', '10.0.0.1')), 'invalid_api_key')
  t.equal(errorOf(identify('acme-identity-unit-9f3e ', '10.0.0.1')), 'malformed_api_key', 'a trailing space is judged before the memory')
  // Another config snapshot (a reload that dropped the key) remembers nothing of the first.
  const reloaded = parseConfig('plans: { free: [ { max: 10, per: 1m } ] }\nkeys: [ { name: other, key: other-identity-unit-0000, plan: free } ]', {}, 'reloaded.yml')
  if (!reloaded.ok) throw new Error(reloaded.errors.join('\n'))
  t.equal(errorOf(buildIdentifyKey(reloaded.config)('acme-identity-unit-9f3e', '10.0.0.1')), 'invalid_api_key', 'a dropped key is refused at once')
})

t.test('TollgateError is an answer, built without a stack: no frames, and the stack limit is left as it was', async (t) => {
  const before = Error.stackTraceLimit
  const error = new TollgateError('rate_limited', { policy: 'free-1m' })
  t.equal(Error.stackTraceLimit, before)
  t.notMatch(error.stack ?? '', /\n\s+at /, 'no frames captured')
  t.match(error.stack ?? '', /Rate limit exceeded/)
  t.ok(new Error('x').stack?.includes('\n    at '), 'other errors keep their stacks')
})
