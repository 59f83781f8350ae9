import { createHash } from 'node:crypto'
import type { Test } from 'tap'
import { parseConfig, type Config } from '../../src/config'

// Shared by the test/config/load-*.test.ts files: pure tests of
// `parseConfig(text, env, source)`, no file, no process, the env passed in.

export const SOURCE = 'test.yml'
export const PLANS = 'plans:\n  free: [ { max: 5, per: 1s } ]\n'
export const NOT_A_DURATION = 'is not a duration (an integer with ms, s, m, h or d: 500ms, 30s, 5m, 1d)'
export const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex')

type Env = Record<string, string | undefined>

/** The config `text` parses to; fails the test with the errors if it does not. */
export function accepted (t: Test, text: string, env: Env = {}): Config {
  const result = parseConfig(text, env, SOURCE)
  if (!result.ok) {
    t.fail(`expected the config to be accepted, got:\n${result.errors.join('\n')}`)
    throw new Error('config rejected')
  }
  return result.config
}

/** Every error `text` gives; fails the test if it is accepted. */
export function rejected (t: Test, text: string, env: Env = {}): string[] {
  const result = parseConfig(text, env, SOURCE)
  if (result.ok) {
    t.fail(`expected errors, the config was accepted: ${JSON.stringify(result.config)}`)
    return []
  }
  return result.errors
}
