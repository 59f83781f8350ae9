import t from 'tap'
import { parseConfig } from '../../src/config'

// Issue 9, finding 3: what check-config accepted and the running limiter could not honour,
// or silently ignored. Each is refused with its path; the class, not only the example.

const PLANS = 'plans:\n  free: [ { max: 5, per: 1s } ]\n  pro: [ { max: 100, per: 1s } ]\n'

function errors (text: string): string[] {
  const result = parseConfig(text, {}, 'test.yml')
  return result.ok ? [] : result.errors
}

function warnings (text: string): string[] {
  const result = parseConfig(text, {}, 'test.yml')
  if (!result.ok) throw new Error(result.errors.join('\n'))
  return result.warnings
}

t.test('a route method that is no HTTP method: Node answers it 400, the rule could never match', async (t) => {
  t.strictSame(errors(`${PLANS}routes: [ { match: "FETCH /x" }, { match: "GETT /y", cost: 2 } ]\n`), [
    'routes[0].match: "FETCH" is not an HTTP method (GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS, ... or *)',
    'routes[1].match: "GETT" is not an HTTP method (GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS, ... or *)'
  ])
  // Any case, as requests are matched; every method Node parses; `*` and no method at all.
  t.strictSame(errors(`${PLANS}routes: [ { match: "get /a" }, { match: "PROPFIND /b" }, { match: "PURGE /c" }, { match: "* /d" }, { match: "/e" } ]\n`), [])
})

t.test('limit: false with a cost or windows: they would silently do nothing', async (t) => {
  t.strictSame(errors(`${PLANS}routes:\n  - { match: "GET /a", limit: false, cost: 5 }\n  - { match: "GET /b", limit: false, plans: { free: [ { max: 1, per: 1s } ] } }\n  - { match: "GET /c", limit: false, cost: 1 }\n`), [
    'routes[0].cost: has no effect with limit: false (nothing is counted on this route)',
    'routes[1].plans: has no effect with limit: false (nothing is counted on this route)',
    'routes[2].cost: has no effect with limit: false (nothing is counted on this route)'
  ])
  t.strictSame(errors(`${PLANS}routes: [ { match: "GET /a", limit: false } ]\n`), [])
})

t.test('a cost above the max of a window: an error when no plan can pay it, a warning when some cannot', async (t) => {
  t.strictSame(errors(`${PLANS}routes: [ { match: "POST /up", cost: 101 } ]\n`), [
    'routes[0].cost: 101 is more than plans.free[0].max (5), plans.pro[0].max (100): no client could ever be admitted on this route'
  ])
  // A route's own windows count too: every window must allow.
  t.strictSame(errors(`${PLANS}routes: [ { match: "POST /up", cost: 10, plans: { pro: [ { max: 9, per: 1m } ] } } ]\n`), [
    'routes[0].cost: 10 is more than plans.free[0].max (5), routes[0].plans.pro[0].max (9): no client could ever be admitted on this route'
  ])
  t.strictSame(warnings(`${PLANS}routes: [ { match: "POST /up", cost: 10 } ]\n`), [
    'routes[0] ("POST /up"): cost 10 is more than plans.free[0].max (5): clients on plan free are always refused there'
  ])
  t.strictSame(warnings(`${PLANS}routes: [ { match: "POST /up", cost: 5 } ]\n`), [], 'a cost equal to the max fits')
})

t.test('two listeners on one port: the second would fail at start, after check-config said OK', async (t) => {
  t.strictSame(errors(`${PLANS}listen: { proxy: 0.0.0.0:8080, admin: 127.0.0.1:8080 }\n`), ['listen.admin: "127.0.0.1:8080" uses the port of listen.proxy'])
  t.strictSame(errors(`${PLANS}listen: { admin: 0.0.0.0:8080 }\n`), ['listen.admin: "0.0.0.0:8080" uses the port of listen.proxy'], 'against the default proxy port')
  t.strictSame(errors(`${PLANS}listen: { proxy: 127.0.0.1:9000, grpc: "[::]:9000" }\n`), ['listen.grpc: "[::]:9000" uses the port of listen.proxy'])
  t.strictSame(errors(`${PLANS}listen: { proxy: 127.0.0.1:9000, admin: 127.0.0.2:9000, grpc: 127.0.0.1:0 }\n`), [], 'two addresses, one port each; port 0 is any free port')
  t.strictSame(errors(`${PLANS}listen: { proxy: 127.0.0.1:0, admin: 127.0.0.1:0 }\n`), [], 'port 0 twice: two free ports')
})

t.test('YAML merge keys are supported, and a merged window is checked like a written one', async (t) => {
  t.strictSame(errors('plans:\n  free: [ &w { max: 5, per: 1s } ]\n  pro: [ { <<: *w, max: 2000000000 } ]\n'), ['plans.pro[0].max: 2000000000 must be at most 1000000000'])
})

t.test('an infinite number is shown as such, not as null', async (t) => {
  t.strictSame(errors(`${PLANS}max_checks_in_flight: 1e400\n`), ['max_checks_in_flight: Infinity must be integer'])
})
