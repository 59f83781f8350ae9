import type { Decision } from './limiter'

/**
 * The rate-limit header fields of one decision, as name/value pairs: the IETF draft
 * `RateLimit-Policy` (every window) and `RateLimit` (the binding window), the common
 * `x-ratelimit-*` of that same window, and `Retry-After` on a refusal. The proxy sets
 * them on its response; the gRPC service hands them to Envoy in
 * `response_headers_to_add`, so both say exactly the same. Without a binding window
 * (no store could answer) only the policy is stated: any count would be a guess.
 */
export function rateLimitFields (decision: Decision): Array<[string, string]> {
  const fields: Array<[string, string]> = [['ratelimit-policy', decision.policyHeader]]
  const binding = decision.binding
  if (binding === undefined) return fields
  fields.push(
    ['ratelimit', `"${binding.policy}";r=${binding.remaining};t=${binding.resetSeconds}`],
    ['x-ratelimit-limit', String(binding.max)],
    ['x-ratelimit-remaining', String(binding.remaining)],
    ['x-ratelimit-reset', String(binding.resetSeconds)]
  )
  if (decision.refusal === 'rate_limited') fields.push(['retry-after', String(binding.resetSeconds)])
  return fields
}
