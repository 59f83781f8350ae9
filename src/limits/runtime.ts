import type { Config } from '../config'
import type { IncomingMessage } from 'node:http'
import { buildIdentify, buildIdentifyKey, buildPeerTrust, type Identify, type IdentifyKey } from './identity'
import type { Controls } from './controls'
import { Limiter } from './limiter'
import { compilePolicy, type Policy } from './policy'
import type { Stores } from './stores'

/**
 * Everything one config snapshot decides with: built whole from the config, never
 * patched, so a reload swaps one reference and a request in flight keeps the runtime
 * it started with.
 */
export interface Runtime {
  readonly config: Config
  readonly policy: Policy
  readonly identify: Identify
  /** The same, for a key and IP given as values (`POST /v1/check`). */
  readonly identifyKey: IdentifyKey
  /** Whether the peer is a trusted proxy (`trust_proxy`), whose forwarded headers stand. */
  readonly trustsPeer: (raw: IncomingMessage) => boolean
  readonly limiter: Limiter
  /** Overrides and bans: they outlive this snapshot (the stores' own, carried over by reloads). */
  readonly controls: Controls
}

export function buildRuntime (config: Config, stores: Stores): Runtime {
  return {
    config,
    policy: compilePolicy(config),
    identify: buildIdentify(config),
    identifyKey: buildIdentifyKey(config),
    trustsPeer: buildPeerTrust(config),
    controls: stores.controls,
    limiter: new Limiter({
      store: stores.shared,
      onStoreError: config.on_redis_error,
      fallback: stores.local,
      shadow: config.shadow,
      maxChecksInFlight: config.max_checks_in_flight,
      events: stores.events
    })
  }
}
