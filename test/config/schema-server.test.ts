import t from 'tap'
import { parseConfig } from '../../src/config'

// `server:`: the defaults, every bound and one past it, and request_timeout ≥ headers_timeout.
const base = 'plans: { anonymous: [ { max: 1, per: 1s } ] }\n'
const errorsOf = (server: string): string[] => {
  const parsed = parseConfig(`${base}server: ${server}\n`, {}, 'x.yml')
  return parsed.ok ? [] : parsed.errors
}

t.test('defaults', async (t) => {
  const parsed = parseConfig(base, {}, 'x.yml')
  if (!parsed.ok) throw new Error(parsed.errors.join('\n'))
  t.same(parsed.config.server, { headers_timeout: '10s', request_timeout: '5m', keep_alive_timeout: '72s', max_connections: 10000 })
})

t.test('each bound is accepted, one past it is refused with the bounds named', async (t) => {
  const cases: Array<[string, string, RegExp | undefined]> = [
    ['headers_timeout', '1s', undefined],
    ['headers_timeout', '999ms', /server\.headers_timeout: "999ms" must be at least 1s/],
    ['headers_timeout', '10m', /request_timeout/],
    ['headers_timeout', '601s', /server\.headers_timeout: "601s" must be at most 10m/],
    ['request_timeout', '0s', undefined],
    ['request_timeout', '24h', undefined],
    ['request_timeout', '86401s', /server\.request_timeout: "86401s" must be at most 24h/],
    ['keep_alive_timeout', '1s', undefined],
    ['keep_alive_timeout', '999ms', /server\.keep_alive_timeout: "999ms" must be at least 1s/],
    ['keep_alive_timeout', '1h', undefined],
    ['keep_alive_timeout', '3601s', /server\.keep_alive_timeout: "3601s" must be at most 1h/]
  ]
  for (const [key, value, expected] of cases) {
    const errors = errorsOf(`{ ${key}: ${value} }`)
    if (expected === undefined) t.same(errors, [], `${key}: ${value} is accepted`)
    else t.match(errors.join('\n'), expected, `${key}: ${value}`)
  }
  t.same(errorsOf('{ max_connections: 1 }'), [])
  t.same(errorsOf('{ max_connections: 1000000 }'), [])
  t.match(errorsOf('{ max_connections: 0 }').join('\n'), /server\.max_connections: 0 must be at least 1/)
  t.match(errorsOf('{ max_connections: 1000001 }').join('\n'), /server\.max_connections: 1000001 must be at most 1000000/)
  t.match(errorsOf('{ headers_timeout: 10 }').join('\n'), /server\.headers_timeout: 10 is not a duration/)
  t.match(errorsOf('{ idle: 5s }').join('\n'), /server\.idle: is not a known key/)
})

t.test('request_timeout must cover the headers, or be 0s (off)', async (t) => {
  t.match(errorsOf('{ headers_timeout: 30s, request_timeout: 10s }').join('\n'),
    /server\.request_timeout: "10s" must be 0s \(off\) or at least server\.headers_timeout \("30s"\)/)
  t.same(errorsOf('{ headers_timeout: 30s, request_timeout: 30s }'), [])
  t.same(errorsOf('{ headers_timeout: 30s, request_timeout: 0s }'), [])
})
