import { keysSummary, loadConfigFile, redisSummary, type Config } from './config'

/**
 * The `check-config` command, like `nginx -t`: exit 0 with a summary of what the file
 * sets, or 1 with every error and its path in the file.
 */

function summary (config: Config, hash: string): string {
  const lines = [`config OK (hash ${hash})`]
  const decision = config.listen.decision === undefined ? '' : `, decision ${config.listen.decision}`
  lines.push(`  listen:   proxy ${config.listen.proxy}, admin ${config.listen.admin}${decision}`)
  lines.push(`  upstream: ${config.upstream?.url ?? '(none: the proxy listener serves the decision API)'}`)
  lines.push(`  store:    ${config.redis === undefined ? 'embedded memory (one replica only)' : redisSummary(config.redis)}, on_redis_error: ${config.on_redis_error}`)
  lines.push('  plans:')
  for (const [plan, windows] of Object.entries(config.plans)) {
    lines.push(`    ${plan}: ${windows.map((w) => `${w.max}/${w.per} ${w.algorithm ?? config.algorithm}`).join(', ')}`)
  }
  lines.push(...keysSummary(config.keys))
  lines.push(config.routes.length === 0 ? '  routes:   (none)' : '  routes:')
  for (const route of config.routes) {
    const extra = Object.keys(route.plans ?? {})
    lines.push(`    ${route.match}: ${route.limit ? `cost ${route.cost}${extra.length > 0 ? `, own windows for ${extra.join(', ')}` : ''}` : 'not limited'}`)
  }
  if (config.shadow) lines.push('  shadow:   on (limits are counted, never enforced)')
  lines.push(...rlsSummary(config))
  return lines.join('\n')
}

/** The `rls` lines of the check-config summary. */
function rlsSummary (config: Config): string[] {
  const domains = Object.entries(config.rls?.domains ?? {})
  if (domains.length === 0 && config.listen.grpc === undefined) return []
  const lines = [`  grpc:     ${config.listen.grpc ?? '(no listen.grpc: the rls section is not served)'}${config.rls?.allow_overrides === true ? ', limit overrides allowed' : ''}`]
  for (const [domain, rules] of domains) {
    lines.push(`    ${domain}: ${rules.map((r) => `[${r.match.map((e) => e.value === undefined ? e.key : `${e.key}=${e.value}`).join(', ')}] → ${r.unlimited ? 'unlimited' : r.plan ?? "the key's plan"}${r.shadow ? ' (shadow)' : ''}`).join('; ')}`)
  }
  return lines
}

export async function checkConfig (file: string): Promise<number> {
  const result = await loadConfigFile(file, process.env)
  if (!result.ok) {
    process.stderr.write(`${file}: ${result.errors.length} error(s)\n${result.errors.map((e) => `  ${e}`).join('\n')}\n`)
    return 1
  }
  for (const warning of result.warnings) process.stderr.write(`warning: ${warning}\n`)
  process.stdout.write(summary(result.config, result.hash) + '\n')
  return 0
}
