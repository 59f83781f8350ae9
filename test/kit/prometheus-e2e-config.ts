import { readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { parse } from 'yaml'
import { SCRAPE_SECONDS } from './prometheus-e2e-dashboard'

// Shared by prometheus-e2e.test.ts: the shipped Prometheus files, alerts.yml's rules and
// prometheus.yml made to run here, and the tollgate config the scenario runs.

const REPO_ROOT = resolve(__dirname, '..', '..')
export const read = (path: string): string => readFileSync(join(REPO_ROOT, path), 'utf8')

interface Rule { alert?: string, record?: string, expr: string }
interface RulesFile { groups: Array<{ name: string, rules: Rule[] }> }
interface ScrapeConfig { job_name: string, static_configs?: Array<{ targets: string[] }>, [key: string]: unknown }
interface PromConfig {
  global?: Record<string, unknown>
  rule_files?: string[]
  scrape_configs?: ScrapeConfig[]
  [key: string]: unknown
}

/** Every rule of alerts.yml, named by its alert (or record) name. */
export const rules = (parse(read('prometheus/alerts.yml')) as RulesFile).groups
  .flatMap((group) => group.rules)
  .map((rule) => ({ ...rule, name: rule.alert ?? rule.record ?? '?', type: rule.alert === undefined ? 'recording' : 'alerting' }))
export const alerts = rules.filter((rule) => rule.type === 'alerting')

// In this scenario (Redis up, app up, config loaded, clients over their plans, the app
// answering 503 to one path), these alert expressions must select something, and these
// must select nothing. TollgateSlowRateLimitCheck and TollgateEventLoopLag are left
// out: whether they hold depends on how loaded the test machine is.
export const EXPECT_ACTIVE = ['TollgateHighLimitedRatio', 'TollgateUpstreamErrors']
export const EXPECT_QUIET = ['TollgateDown', 'TollgateRedisDown', 'TollgateRedisCircuitOpen', 'TollgateConfigReloadFailing', 'TollgateUpstreamDown']

/**
 * The shipped prometheus/prometheus.yml, made to run here: every job and rule file kept,
 * rule files by absolute path, the tollgate job scraping the test's tollgate, the
 * self-scrape pointed at this Prometheus, and 1s intervals so the test is fast.
 */
export function testConfig (tollgateTarget: string, prometheusPort: number): PromConfig {
  const shipped = parse(read('prometheus/prometheus.yml')) as PromConfig
  const dir = join(REPO_ROOT, 'prometheus')
  const jobs = shipped.scrape_configs ?? []
  if (!jobs.some((job) => job.job_name === 'tollgate')) throw new Error('prometheus/prometheus.yml has no scrape job named "tollgate"')
  if ((shipped.rule_files ?? []).length === 0) throw new Error('prometheus/prometheus.yml loads no rule_files')
  return {
    ...shipped,
    global: { ...shipped.global, scrape_interval: `${SCRAPE_SECONDS}s`, evaluation_interval: `${SCRAPE_SECONDS}s` },
    rule_files: (shipped.rule_files ?? []).map((file) => resolve(dir, file)),
    scrape_configs: jobs.map((job) => {
      if (job.job_name === 'tollgate') return { ...job, static_configs: [{ targets: [tollgateTarget] }] }
      if (job.job_name === 'prometheus') return { ...job, static_configs: [{ targets: [`127.0.0.1:${prometheusPort}`] }] }
      return job
    })
  }
}

// ---------------------------------------------------------------------------------
// Traffic

export const KEYS = { alpha: 'alpha-key', beta: 'beta-key', gamma: 'gamma-key' }

/**
 * One tollgate config for both processes of the test (the second replaces the first on
 * the same admin port). alpha (5/s) and beta (20/s, and uploads cost 2) each ask more
 * than their plan allows, so both see 200s and 429s; gamma's plan is never exhausted,
 * so its redirects and the app's 503s reach the metrics at a steady rate. The route
 * rules give `route` labels other than `default`.
 */
export function tollgateConfig (upstream: string, redis: string, adminPort: number): string {
  return `
listen: { proxy: 127.0.0.1:0, admin: 127.0.0.1:${adminPort} }
upstream: ${upstream}
# 2s, not the default 250ms: on a test machine starved of CPU a timed-out check is
# decided by on_redis_error (allowed, "degraded"), and the 429s this test needs vanish.
redis: { url: ${redis}, timeout: 2s }
plans:
  small: [ { max: 5, per: 1s } ]
  medium: [ { max: 20, per: 1s }, { max: 100000, per: 1d, algorithm: fixed } ]
  large: [ { max: 1000, per: 1s } ]
keys:
  - { name: alpha, key: ${KEYS.alpha}, plan: small }
  - { name: beta, key: ${KEYS.beta}, plan: medium }
  - { name: gamma, key: ${KEYS.gamma}, plan: large }
routes:
  - { match: "GET /healthz", limit: false }
  - { match: "POST /upload/*", cost: 2 }
`
}
