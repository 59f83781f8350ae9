import { Type, type TString } from '@sinclair/typebox'

/** Integer with a unit: `0s`, `500ms`, `30s`, `5m`, `1h`, `1d`. */
export const DURATION_PATTERN = '^[0-9]+(ms|s|m|h|d)$'

/**
 * Every duration names the least and the most its consumer can honour (validate.ts
 * checks the `minDuration` / `maxDuration` keywords; bounds.ts says why each ceiling).
 */
interface DurationBounds { readonly min: string, readonly max: string, readonly default?: string }

/** The one way a schema section declares a duration. */
export const Duration = (bounds: DurationBounds): TString =>
  Type.String({ format: 'duration', minDuration: bounds.min, maxDuration: bounds.max, ...(bounds.default === undefined ? {} : { default: bounds.default }) })
