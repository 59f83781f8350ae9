import type { FastifyReply } from 'fastify'
import { OVERLOADED_RETRY_SECONDS, type Decision } from '../limits'

/**
 * Writes the rate-limit fields of one decision: the IETF draft `RateLimit-Policy`
 * (every window) and `RateLimit` (the binding window), and the common
 * `x-ratelimit-*` of that same window. A refusal also gets `Retry-After`, equal to
 * the binding window's reset. Without a binding window (no store could answer) only
 * the policy is stated: any count would be a guess.
 */
export function setRateLimitHeaders (reply: FastifyReply, decision: Decision): void {
  reply.header('ratelimit-policy', decision.policyHeader)
  if (decision.refusal === 'overloaded') reply.header('retry-after', OVERLOADED_RETRY_SECONDS)
  const binding = decision.binding
  if (binding === undefined) return
  reply.header('ratelimit', `"${binding.policy}";r=${binding.remaining};t=${binding.resetSeconds}`)
  reply.header('x-ratelimit-limit', binding.max)
  reply.header('x-ratelimit-remaining', binding.remaining)
  reply.header('x-ratelimit-reset', binding.resetSeconds)
  if (decision.refusal === 'rate_limited') reply.header('retry-after', binding.resetSeconds)
}
