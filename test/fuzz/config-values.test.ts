import fc from 'fast-check'
import t from 'tap'
import { holdsFor } from './config-checks'
import { render, VALID } from './config-walk'
import { fuzzRuns } from './runs'

/*
 * Issue 13, fuzzing: the config loader never throws, never hangs, and every rejection is
 * a list of errors that each start with a path in the document (`plans.free[0].max: ...`)
 * or name the file. Whatever reaches it (a reload of a half-written file, a hostile
 * ConfigMap) is a bad file like any other, never the end of the process.
 * Here: random values and documents rendered as YAML, and odd numbers and durations.
 */

t.test('random JSON values rendered as YAML', async () => {
  fc.assert(fc.property(fc.jsonValue(), (value) => holdsFor(render(value))), { numRuns: fuzzRuns(500) })
})

t.test('random values of any kind (maps, sets, dates, big integers, null prototypes) rendered as YAML', async () => {
  const anything = fc.anything({ withBigInt: true, withMap: true, withSet: true, withDate: true, withNullPrototype: true, withObjectString: true, withBoxedValues: true, withSparseArray: true, maxDepth: 5 })
  fc.assert(fc.property(anything, (value) => holdsFor(render(value))), { numRuns: fuzzRuns(500) })
})

t.test('random documents with random unicode keys and values, under plans and at the top', async () => {
  const unicode = fc.string({ unit: 'binary', maxLength: 40 })
  const document = fc.dictionary(unicode, fc.oneof(unicode, fc.dictionary(unicode, unicode, { maxKeys: 4 }), fc.array(unicode, { maxLength: 4 })), { maxKeys: 6 })
  fc.assert(fc.property(document, document, (top, plans) => holdsFor(render({ ...VALID, ...top, plans: { ...VALID.plans, ...plans } }))),
    { numRuns: fuzzRuns(500) })
})

t.test('huge, negative and odd numbers at every numeric key, and huge durations at every duration', async () => {
  const number = fc.oneof(fc.constantFrom('1e400', '-1e400', '.inf', '-.inf', '.nan', '0x7fffffffffffffffff', '0o777777777777777777777', '-0', '1e-400',
    '9007199254740993', '1_000', '+5', '0b101'), fc.bigInt({ min: -(10n ** 60n), max: 10n ** 60n }).map(String), fc.double().map(String))
  const duration = fc.tuple(fc.oneof(fc.bigInt({ min: 0n, max: 10n ** 40n }).map(String), fc.constantFrom('0', '00', '-1', '1e3', '2147483648')),
    fc.constantFrom('ms', 's', 'm', 'h', 'd', '')).map(([amount, unit]) => amount + unit)
  const text = fc.tuple(number, number, number, duration, duration, duration).map(([max, cost, inflight, per, grace, timeout]) => [
    'plans:', `  free: [ { max: ${max}, per: ${per} } ]`, `routes: [ { match: "GET /x", cost: ${cost} } ]`,
    `max_checks_in_flight: ${inflight}`, `shutdown: { grace: ${grace}, drain_delay: ${per} }`,
    `upstream: { url: "http://127.0.0.1:1", timeout: ${timeout} }`, `redis: { url: "redis://127.0.0.1:1", timeout: ${timeout} }`,
    `server: { max_connections: ${max}, headers_timeout: ${grace} }`, ''].join('\n'))
  fc.assert(fc.property(text, holdsFor), { numRuns: fuzzRuns(500) })
})
