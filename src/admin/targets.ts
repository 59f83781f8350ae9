import { isIP } from 'node:net'
import type { Config } from '../config'
import { TollgateError } from '../errors'
import type { BanKind } from '../limits'

/** What a ban's path names: a configured client, an IP, or a CIDR. */
export interface BanTarget {
  readonly target: string
  readonly kind: BanKind
}

/** Something that tries to be an address (digits and dots, or a colon): a typo here is a 400, not an unknown client. */
const ADDRESS_LIKE = /^[0-9.]+$|:/

/** A configured key's name, or 404: overrides and bans are for clients the config knows. */
export function knownClient (config: Config, name: string): string {
  if (!config.keys.some((key) => key.name === name)) {
    throw new TollgateError('not_found', { client: name }, `No key is named "${name}" in the config.`)
  }
  return name
}

/**
 * `/v1/bans/<target>`: `10.0.0.0/8` (the `/` raw or as `%2F`), `203.0.113.7`, `2001:db8::/48`,
 * or a key's name. Addresses are lower-cased so one target has one spelling.
 */
export function banTarget (config: Config, raw: string): BanTarget {
  const slash = raw.indexOf('/')
  if (slash !== -1) {
    const address = raw.slice(0, slash).toLowerCase()
    const bits = raw.slice(slash + 1)
    const family = isIP(address)
    const most = family === 6 ? 128 : 32
    if (family === 0 || !/^[0-9]{1,3}$/.test(bits) || Number(bits) > most) {
      throw new TollgateError('bad_request', { target: raw }, `"${raw}" is not a valid CIDR (an IPv4 or IPv6 address, "/", and a prefix length up to ${most}).`)
    }
    return { target: `${address}/${Number(bits)}`, kind: 'ip' }
  }
  if (isIP(raw) !== 0) return { target: raw.toLowerCase(), kind: 'ip' }
  if (ADDRESS_LIKE.test(raw)) throw new TollgateError('bad_request', { target: raw }, `"${raw}" is not a valid IP address.`)
  return { target: knownClient(config, raw), kind: 'client' }
}
