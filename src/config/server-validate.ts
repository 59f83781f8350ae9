import { durationMs } from './bounds'
import { DURATION_PATTERN } from './duration'

/** What the schema cannot say of `server.*`: `request_timeout` ≥ `headers_timeout`. */
export function serverChecks (section: unknown): string[] {
  if (section === null || typeof section !== 'object' || Array.isArray(section)) return []
  const values = section as Record<string, unknown>
  const duration = new RegExp(DURATION_PATTERN)
  const ms = (key: string): number | undefined => {
    const value = values[key]
    return typeof value === 'string' && duration.test(value) ? durationMs(value) : undefined
  }
  const errors: string[] = []
  const headers = ms('headers_timeout')
  const request = ms('request_timeout')
  if (headers !== undefined && request !== undefined && request !== 0 && request < headers) {
    errors.push(`server.request_timeout: "${String(values.request_timeout)}" must be 0s (off) or at least server.headers_timeout ("${String(values.headers_timeout)}"): the headers are part of the request`)
  }
  return errors
}
