import type { RateLimitRequest } from './proto'

/** Bounds on what one call may ask for: far above what Envoy sends, low enough to keep one call cheap. */
export const MAX_DESCRIPTORS = 64
export const MAX_ENTRIES = 16
export const MAX_TEXT = 1024
/** The stores' bound on one request's cost. */
export const MAX_HITS = 1e9

/** The request breaks the contract: answered INVALID_ARGUMENT with this message. */
export class InvalidRequest extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'InvalidRequest'
  }
}

/** Refuses a call outside the bounds above, naming what is wrong; checked before anything is looked up. */
export function assertBounds (request: RateLimitRequest): void {
  if (request.domain === '') throw new InvalidRequest('domain must not be empty')
  if (request.domain.length > MAX_TEXT) throw new InvalidRequest(`domain is longer than ${MAX_TEXT} characters`)
  if (request.descriptors.length === 0) throw new InvalidRequest('descriptors must not be empty')
  if (request.descriptors.length > MAX_DESCRIPTORS) throw new InvalidRequest(`at most ${MAX_DESCRIPTORS} descriptors per call`)
  if (request.hits_addend > MAX_HITS) throw new InvalidRequest(`hits_addend is above ${MAX_HITS}`)
  request.descriptors.forEach((descriptor, i) => {
    if (descriptor.entries.length === 0 || descriptor.entries.length > MAX_ENTRIES) {
      throw new InvalidRequest(`descriptors[${i}] must have 1 to ${MAX_ENTRIES} entries`)
    }
    for (const entry of descriptor.entries) {
      if (entry.key === '' || entry.value === '') throw new InvalidRequest(`descriptors[${i}]: an entry's key and value must not be empty`)
      if (entry.key.length > MAX_TEXT || entry.value.length > MAX_TEXT) throw new InvalidRequest(`descriptors[${i}]: an entry is longer than ${MAX_TEXT} characters`)
    }
  })
}
