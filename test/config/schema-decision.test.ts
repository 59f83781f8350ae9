import t from 'tap'
import { parseConfig } from '../../src/config'

// check-config's view of the decision API's keys: `decision.*` and `listen.decision`.

const BASE = 'plans:\n  free: [ { max: 5, per: 1s } ]\n'
const UPSTREAM = 'upstream: http://127.0.0.1:3000\n'

function errors (text: string): string[] {
  const result = parseConfig(text, {}, 'test.yml')
  return result.ok ? [] : result.errors
}

t.test('decision.deny_status is a 4xx', async (t) => {
  const ok = parseConfig(`${BASE}decision: { deny_status: 403 }\n`, {}, 'test.yml')
  t.ok(ok.ok && ok.config.decision.deny_status === 403, '403 (nginx) is accepted')
  for (const status of [500, 503, 200, 302, 399, 600]) {
    t.match(errors(`${BASE}decision: { deny_status: ${status} }\n`), [/^decision\.deny_status: .*(4xx|400|499)/], `${status}`)
  }
  t.match(errors(`${BASE}decision: { deny_status: "429" }\n`), [/^decision\.deny_status/])
  t.match(errors(`${BASE}decision: { deny_status: 429, status: 403 }\n`), [/^decision\.status/], 'an unknown key is an error')
})

t.test('listen.decision: HOST:PORT, with an upstream', async (t) => {
  t.same(errors(`${BASE}${UPSTREAM}listen: { decision: 127.0.0.1:8082 }\n`), [])
  t.match(errors(`${BASE}listen: { decision: 127.0.0.1:8082 }\n`), [/^listen\.decision: needs an upstream/])
  t.match(errors(`${BASE}${UPSTREAM}listen: { decision: localhost }\n`), [/^listen\.decision: .*HOST:PORT/])
  t.match(errors(`${BASE}${UPSTREAM}listen: { decision: 127.0.0.1:99999 }\n`), [/^listen\.decision: .*(65535|port)/])
  t.match(errors(`${BASE}${UPSTREAM}listen: { proxy: 0.0.0.0:8080, decision: 127.0.0.1:8080 }\n`), [/^listen\.decision: .*listen\.proxy/], 'not the port of another listener')
})
