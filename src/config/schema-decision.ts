import { Type } from '@sinclair/typebox'

/**
 * The decision API's answers (`/v1/authorize`). A refusal is always a 4xx: nginx's
 * `auth_request` turns anything but 2xx, 401 and 403 into a 500 (so nginx setups use
 * 403 and map it back to 429), and Envoy's `ext_authz` replaces a 5xx with its own
 * `status_on_error`, losing our body and headers.
 */
export const DecisionSchema = Type.Object({
  /** The status of a rate-limited answer. */
  deny_status: Type.Integer({ minimum: 400, maximum: 499, default: 429, errorMessage: 'must be a 4xx status (400 to 499)' })
}, { additionalProperties: false, default: {} })
