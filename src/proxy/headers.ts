import type { FastifyReply } from 'fastify'
import { OVERLOADED_RETRY_SECONDS, rateLimitFields, type Decision } from '../limits'

/**
 * Writes the rate-limit fields of one decision (see `rateLimitFields`: the same ones
 * the gRPC service hands to Envoy).
 */
export function setRateLimitHeaders (reply: FastifyReply, decision: Decision): void {
  if (decision.refusal === 'overloaded') reply.header('retry-after', OVERLOADED_RETRY_SECONDS)
  for (const [name, value] of rateLimitFields(decision)) reply.header(name, value)
}
