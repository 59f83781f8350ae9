import Fastify from 'fastify'
import t from 'tap'
import type { Decision } from '../../src/limits'
import { setRateLimitHeaders } from '../../src/proxy/headers'

// proxy/headers.ts in process: the fields one decision puts on a response, as a client reads them.

async function headersOf (decision: Decision): Promise<Record<string, unknown>> {
  const app = Fastify()
  app.get('/', async (_request, reply) => { setRateLimitHeaders(reply, decision); return 'ok' })
  const res = await app.inject({ url: '/' })
  await app.close()
  return res.headers
}

const POLICY = '"free-1m";q=10;w=60'
const binding = { policy: 'free-1m', max: 10, remaining: 3, resetSeconds: 42 }

t.test('allowed: the policy, the binding window in RateLimit and x-ratelimit-*, no Retry-After', async (t) => {
  const headers = await headersOf({ outcome: 'allowed', policyHeader: POLICY, binding })
  t.equal(headers['ratelimit-policy'], POLICY)
  t.equal(headers.ratelimit, '"free-1m";r=3;t=42')
  t.equal(headers['x-ratelimit-limit'], '10')
  t.equal(headers['x-ratelimit-remaining'], '3')
  t.equal(headers['x-ratelimit-reset'], '42')
  t.equal(headers['retry-after'], undefined)
})

t.test('refused: Retry-After is the binding window\'s reset', async (t) => {
  const headers = await headersOf({ outcome: 'limited', refusal: 'rate_limited', policyHeader: POLICY, binding: { ...binding, remaining: 0 } })
  t.equal(headers['retry-after'], '42')
  t.equal(headers['x-ratelimit-remaining'], '0')
})

t.test('no store answered: only the policy, no count that would be a guess', async (t) => {
  const headers = await headersOf({ outcome: 'degraded', policyHeader: POLICY })
  t.equal(headers['ratelimit-policy'], POLICY)
  t.equal(headers.ratelimit, undefined)
  t.equal(headers['x-ratelimit-remaining'], undefined)
})

t.test('overloaded: Retry-After 1 and the policy', async (t) => {
  const headers = await headersOf({ outcome: 'overloaded', refusal: 'overloaded', policyHeader: POLICY })
  t.equal(headers['retry-after'], '1')
  t.equal(headers['ratelimit-policy'], POLICY)
})
