import { ERRORS } from '../errors'
import type { Decision } from '../limits'
import type { DescriptorStatus } from './proto'
import type { Group, Resolution } from './resolve'
import { envoyLimit } from './units'

/**
 * What Envoy is told for each descriptor and for the call: a status per descriptor,
 * the RateLimit fields of one chosen decision, and the body of a refused call.
 */

export const OK: DescriptorStatus = { code: 'OK', limit_remaining: 0 }

export function statusOf (group: Group, decision: Decision): DescriptorStatus {
  const binding = decision.binding
  const code = decision.refusal === undefined ? 'OK' : 'OVER_LIMIT'
  if (binding === undefined) return { code, limit_remaining: 0 }
  const window = group.limits.windows.find((w) => w.policy === binding.policy)
  return {
    code,
    current_limit: { name: binding.policy, ...envoyLimit(binding.max, window?.perMs ?? 1000) },
    limit_remaining: binding.remaining,
    duration_until_reset: { seconds: binding.resetSeconds, nanos: 0 }
  }
}

/**
 * The decision whose fields go to Envoy, among the rules with `headers: draft`: as the
 * proxy chooses its binding window, the refusal that keeps the client out longest, else
 * the least left.
 */
export function headerDecision (groups: readonly Group[], decisions: readonly Decision[]): Decision | undefined {
  let best: Decision | undefined
  groups.forEach((group, i) => {
    const d = decisions[i]
    if (!group.headers || d === undefined) return
    if (best === undefined) {
      best = d
      return
    }
    const a = d.binding
    const b = best.binding
    if (a === undefined || b === undefined) return
    if ((d.refusal !== undefined) !== (best.refusal !== undefined)) {
      if (d.refusal !== undefined) best = d
    } else if (d.refusal !== undefined ? a.resetSeconds > b.resetSeconds : a.remaining < b.remaining || (a.remaining === b.remaining && a.resetSeconds > b.resetSeconds)) {
      best = d
    }
  })
  return best
}

export function refusedBody (decision: Decision | undefined): Buffer {
  const binding = decision?.binding
  const body = decision?.refusal === 'limiter_unavailable' || binding === undefined
    ? { error: 'limiter_unavailable', message: ERRORS.limiter_unavailable.message }
    : { error: 'rate_limited', message: ERRORS.rate_limited.message, policy: binding.policy, retry_after: binding.resetSeconds }
  return Buffer.from(JSON.stringify(body))
}

/** The body of a call refused before any limit check: a ban (key or address), or an unknown key. */
export function uncheckedBody (resolutions: readonly Resolution[]): Buffer | undefined {
  const banned = resolutions.find((r) => r.kind === 'banned')
  // The expiry only: the reason is the operator's note, not the client's business.
  if (banned?.kind === 'banned') return Buffer.from(JSON.stringify({ error: 'banned', message: ERRORS.banned.message, expires: banned.expires }))
  if (resolutions.some((r) => r.kind === 'unauthenticated')) return Buffer.from(JSON.stringify({ error: 'invalid_api_key', message: ERRORS.invalid_api_key.message }))
  return undefined
}
