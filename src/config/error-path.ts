/**
 * The one way an error names a place in config.yml: `plans.free[1].per`. Every error
 * that names a key chosen by the user (a plan, an rls domain) builds it here, so that
 * one key is named alike by the schema and by the cross-checks, and errors about it can
 * be matched up (a plan named `0` is `plans[0]` everywhere, never also `plans.0`).
 */

/** `['plans', 'free', 1, 'per']` (or the segments of `/plans/free/1/per`) → `plans.free[1].per` */
export function formatPath (segments: ReadonlyArray<string | number>): string {
  let out = ''
  for (const segment of segments) {
    if (typeof segment === 'number' || /^[0-9]+$/.test(segment)) out += `[${segment}]`
    else out += out === '' ? segment : `.${segment}`
  }
  return out === '' ? '(top level)' : out
}
