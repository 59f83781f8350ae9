import { BlockList, isIPv6 } from 'node:net'

const LOOPBACK = new BlockList()
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4')
// BlockList also matches the IPv4-mapped forms (`::ffff:127.0.0.1`) against the IPv4 subnet.
LOOPBACK.addAddress('::1', 'ipv6')

/**
 * Whether a `HOST:PORT` listen address binds loopback only: 127.0.0.0/8, `::1` (in any
 * spelling), or `localhost`. An empty host (`:9464`), `0.0.0.0`, `::` and any other
 * name are not: a name may resolve to anything, so only `localhost` is taken on trust.
 */
export function isLoopbackBind (hostPort: string): boolean {
  const host = hostPort.slice(0, hostPort.lastIndexOf(':')).replace(/^\[(.*)\]$/, '$1')
  if (host.toLowerCase() === 'localhost') return true
  if (host === '') return false
  try {
    return LOOPBACK.check(host, isIPv6(host) ? 'ipv6' : 'ipv4')
  } catch {
    // Not an IP literal: a host name other than localhost.
    return false
  }
}
