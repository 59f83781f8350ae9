import type { CheckResult, Component, Observation } from '../../src/observe/health'

/*
 * Shared by the test/observe/health-unit-*.test.ts files: the Health class and its routes
 * in process, with an injected clock and fake components: the caching, timeout and
 * concurrency logic, where a real Redis or app would only add noise. The end-to-end
 * files (health-*.test.ts) prove the same contract through the real CLI.
 */

/** A component whose check counts its calls and answers what `next` says. */
export function counting (key: string, opts: { required?: boolean, live?: boolean } = {}): Component & { calls: number, next: Observation } {
  const component = {
    key,
    calls: 0,
    next: { status: 'pass' } as Observation,
    live: opts.live,
    required: () => opts.required ?? true,
    async check (): Promise<Observation> {
      component.calls++
      return component.next
    }
  }
  return component
}

export function clock (): { now: () => number, at: number } {
  const c = { at: 1_700_000_000_000, now: () => c.at }
  return c
}

export const byKey = (results: readonly CheckResult[], key: string): CheckResult => {
  const found = results.find((r) => r.key === key)
  if (found === undefined) throw new Error(`no result for ${key} in ${JSON.stringify(results)}`)
  return found
}
