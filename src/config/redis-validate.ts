import { REDIS_FORMS } from './schema-redis'

const isSection = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value)

/**
 * What the `redis:` schema cannot say: which of the three forms is meant, the fields
 * that belong to one form only. A password or URL is never
 * quoted. Runs even when the schema failed; what is malformed is skipped, the schema
 * already named it.
 */
export function redisChecks (section: unknown): string[] {
  if (!isSection(section)) return []
  const errors: string[] = []
  const forms = REDIS_FORMS.filter((form) => section[form] !== undefined)
  if (forms.length !== 1) {
    errors.push(`redis: needs exactly one of url, sentinels or cluster${forms.length > 1 ? ` (has ${forms.join(' and ')})` : ''}`)
  }
  if (section.sentinels !== undefined && section.name === undefined) errors.push('redis.name: is required with sentinels (the name in `sentinel monitor NAME ...`)')
  if (section.name !== undefined && section.sentinels === undefined) errors.push('redis.name: only goes with sentinels')
  if (section.url !== undefined && section.password !== undefined) errors.push('redis.password: with url, put the password in the URL (redis://:PASSWORD@host:port)')
  for (const form of ['sentinels', 'cluster'] as const) {
    const nodes = section[form]
    if (!Array.isArray(nodes)) continue
    nodes.forEach((node, i) => {
      if (typeof node === 'string' && Number(node.slice(node.lastIndexOf(':') + 1)) > 65535) errors.push(`redis.${form}[${i}]: "${node}" has a port above 65535`)
    })
  }
  return errors
}
