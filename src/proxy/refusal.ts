import { TollgateError } from '../errors'
import { OVERLOADED_RETRY_SECONDS, type Decision } from '../limits'

/** The error a refused decision is answered with, on the proxy and the decision API alike. */
export function refusalError (decision: Decision | undefined): TollgateError {
  const binding = decision?.binding
  if (decision?.refusal === 'overloaded') return new TollgateError('overloaded', { retry_after: OVERLOADED_RETRY_SECONDS })
  if (decision?.refusal === 'internal_error') return new TollgateError('internal_error')
  if (decision?.refusal === 'limiter_unavailable' || binding === undefined) return new TollgateError('limiter_unavailable')
  return new TollgateError('rate_limited', { policy: binding.policy, retry_after: binding.resetSeconds })
}
