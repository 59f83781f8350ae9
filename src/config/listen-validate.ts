import { ConfigSchema } from './schema'

/**
 * Every listener under `listen` (proxy, admin, grpc, and whatever joins them) gets a port
 * listen() can bind and one of its own: two listeners on one port would make the second
 * fail at start, after check-config said OK. Runs on the document as written.
 */

type Loose = Record<string, unknown>
const isRecord = (value: unknown): value is Loose =>
  value !== null && typeof value === 'object' && !Array.isArray(value)

/** The defaults of the listeners that have one (proxy, admin), from the schema. */
const DEFAULTS: ReadonlyArray<[string, unknown]> = Object.entries(ConfigSchema.properties.listen.properties)
  .map(([name, schema]) => [name, (schema as { default?: unknown }).default])

/** Hosts that bind every address, so they clash with any host on the same port. */
const WILDCARD = new Set(['', '0.0.0.0', '[::]'])

function split (address: string): { host: string, port: number } | undefined {
  const colon = address.lastIndexOf(':')
  const port = Number(address.slice(colon + 1))
  return colon === -1 || !Number.isInteger(port) ? undefined : { host: address.slice(0, colon), port }
}

export function listenChecks (listen: unknown): string[] {
  const written = isRecord(listen) ? listen : {}
  const names = [...new Set([...DEFAULTS.map(([name]) => name), ...Object.keys(written)])]
  const defaults = new Map(DEFAULTS)
  const errors: string[] = []
  const bound: Array<{ name: string, host: string, port: number }> = []
  for (const name of names) {
    const address = written[name] ?? defaults.get(name)
    const parsed = typeof address === 'string' ? split(address) : undefined
    if (parsed === undefined) continue
    if (parsed.port > 65535) {
      errors.push(`listen.${name}: "${String(address)}" has a port above 65535`)
      continue
    }
    // Port 0 is "any free port": never a clash.
    const other = parsed.port === 0
      ? undefined
      : bound.find((b) => b.port === parsed.port && (b.host === parsed.host || WILDCARD.has(b.host) || WILDCARD.has(parsed.host)))
    if (other !== undefined) errors.push(`listen.${name}: "${String(address)}" uses the port of listen.${other.name}`)
    bound.push({ name, ...parsed })
  }
  return errors
}
