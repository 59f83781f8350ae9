import { isIP } from 'node:net'
import { normalizeIP } from '@fastify/rate-limit'
import { ANONYMOUS } from '../config'
import type { Ban, Runtime } from '../limits'
import type { KeyOwner } from './rules'

/** Envoy's descriptor key for the client's address (its `remote_address` action). */
export const REMOTE_ADDRESS_ENTRY = 'remote_address'

/** The ban on a configured key's holder, by its name, as on the proxy. */
export function clientBan (runtime: Runtime, owner: KeyOwner): Ban | undefined {
  return runtime.controls.banOf({ client: owner.client, plan: owner.plan, subject: owner.client })
}

/**
 * The IP or CIDR ban on a `remote_address` entry of an anonymous caller's descriptor.
 * The address is normalised as the proxy's anonymous subject is (IPv6 to its /64), so
 * one ban refuses the same callers on both; a value that is no address bans nobody.
 */
export function addressBan (runtime: Runtime, entries: ReadonlyArray<{ readonly key: string, readonly value: string }>): Ban | undefined {
  for (const entry of entries) {
    if (entry.key !== REMOTE_ADDRESS_ENTRY || isIP(entry.value) === 0) continue
    const ban = runtime.controls.banOf({ client: ANONYMOUS, plan: ANONYMOUS, subject: `anon:${normalizeIP(entry.value)}` })
    if (ban !== undefined) return ban
  }
  return undefined
}
