import type { OutgoingHttpHeaders } from 'node:http'
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

/**
 * A forwarded response's headers: the app's end-to-end ones, our rate-limit fields over
 * any of the app's own of the same name, and `connection: close` once draining (the
 * forward writes past Fastify's onSend hook).
 */
export function responseHead (headers: Record<string, string | string[]>, decision: Decision | undefined, draining: boolean): OutgoingHttpHeaders {
  const head: OutgoingHttpHeaders = headers
  if (decision !== undefined) {
    for (const [name, value] of rateLimitFields(decision)) head[name] = value
  }
  if (draining) head.connection = 'close'
  return head
}
