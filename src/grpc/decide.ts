import { rateLimitFields, type Runtime } from '../limits'
import { OK, headerDecision, refusedBody, statusOf, uncheckedBody } from './answer'
import { assertBounds } from './bounds'
import type { DescriptorStatus, RateLimitRequest, RateLimitResponse } from './proto'
import { resolve, type DecisionRecord } from './resolve'
import { rlsOf } from './rules'

/**
 * One ShouldRateLimit call, decided top to bottom: check the request's bounds
 * (bounds.ts), match every descriptor to its domain's first fitting rule and resolve
 * whose budget each one spends, refusing unknown keys and banned callers (resolve.ts),
 * decide all of them in one atomic store call, answer one status per descriptor
 * (answer.ts). The gRPC server only turns the result (or an `InvalidRequest`) into a
 * reply and metrics.
 */

export interface RlsAnswer {
  readonly response: RateLimitResponse
  readonly decisions: readonly DecisionRecord[]
}

export async function shouldRateLimit (runtime: Runtime, request: RateLimitRequest): Promise<RlsAnswer> {
  assertBounds(request)
  const { groups, resolutions, decisions } = resolve(runtime, rlsOf(runtime.config), request)

  // A refused key or a ban refuses the call: nothing is spent, nothing else is asked.
  const refusedUnchecked = resolutions.some((r) => r.kind === 'unauthenticated' || r.kind === 'banned')
  const outcome = refusedUnchecked || groups.length === 0
    ? { allowed: !refusedUnchecked, groups: [] }
    : await runtime.limiter.decideGroups(`rls:${request.domain}`, groups, Math.max(1, request.hits_addend))
  outcome.groups.forEach((d, i) => {
    const group = groups[i]
    if (group !== undefined) decisions.push({ client: group.client, plan: group.limits.plan, decision: d.outcome })
  })

  // One status per descriptor, in the request's order.
  const statuses = resolutions.map((r): DescriptorStatus => {
    if (r.kind === 'free') return OK
    if (r.kind === 'unauthenticated' || r.kind === 'banned') return { code: 'OVER_LIMIT', limit_remaining: 0 }
    const group = groups[r.index]
    const decision = outcome.groups[r.index]
    return group === undefined || decision === undefined ? OK : statusOf(group, decision)
  })
  const shown = headerDecision(groups, outcome.groups)
  const allowed = outcome.allowed
  return {
    response: {
      overall_code: allowed ? 'OK' : 'OVER_LIMIT',
      statuses,
      response_headers_to_add: shown === undefined ? [] : rateLimitFields(shown).map(([key, value]) => ({ key, value })),
      request_headers_to_add: [],
      ...(allowed ? {} : { raw_body: uncheckedBody(resolutions) ?? refusedBody(shown?.refusal !== undefined ? shown : outcome.groups.find((d) => d.refusal !== undefined)) })
    },
    decisions
  }
}
