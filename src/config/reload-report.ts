import type { Logger } from 'pino'
import { isEmptyChange } from './diff'
import type { ReloadResult, Snapshot } from './live'
import type { Config } from './schema'
import { ANONYMOUS, type AppliedReloadResult } from './vocabulary'

/**
 * The config metrics a reload moves. observe/metrics.ts defines them; this is all the
 * report needs of them, so config/ imports nothing else of tollgate's.
 */
export interface ReloadMetrics {
  readonly configReloads: { inc: (labels: { result: AppliedReloadResult }) => void }
  readonly configLastReloadSuccessful: { set: (value: number) => void }
  readonly configLastReloadSuccessTimestamp: { set: (value: number) => void }
  readonly configInfo: { reset: () => void, set: (labels: { hash: string }, value: number) => void }
}

interface ReportDeps {
  readonly log: Logger
  readonly metrics: ReloadMetrics
}

/** The clients (and plans) a config names, whose decision series exist from the start. */
export function configuredClients (config: Config): Array<{ client: string, plan: string }> {
  return [
    ...config.keys.map((key) => ({ client: key.name, plan: key.plan })),
    ...(config.plans[ANONYMOUS] === undefined ? [] : [{ client: ANONYMOUS, plan: ANONYMOUS }])
  ]
}

/** Marks a snapshot as the one in force in the config metrics. */
export function recordConfigInForce (metrics: ReloadMetrics, snapshot: { readonly hash: string, readonly loadedAt: Date }): void {
  metrics.configLastReloadSuccessful.set(1)
  metrics.configLastReloadSuccessTimestamp.set(snapshot.loadedAt.getTime() / 1000)
  metrics.configInfo.reset()
  metrics.configInfo.set({ hash: snapshot.hash }, 1)
}

/**
 * What follows a reload attempt in metrics and the log (the diff by name, never key
 * material), and the log level. What the new state does with the old one is the caller's.
 */
export function reportReload<T> (deps: ReportDeps, result: ReloadResult, trigger: string, current: Snapshot<T>, previous: Snapshot<T>): void {
  const { log, metrics } = deps
  if (result.result === 'unchanged') {
    log.debug({ trigger, hash: result.hash }, 'config unchanged')
    return
  }
  if (result.result === 'failure') {
    metrics.configReloads.inc({ result: 'failure' })
    metrics.configLastReloadSuccessful.set(0)
    log.error({ trigger, errors: result.errors, hash: current.hash }, 'config reload rejected: the running config stays')
    return
  }
  metrics.configReloads.inc({ result: 'success' })
  recordConfigInForce(metrics, current)
  // The lines about this reload are written at the more verbose of the two levels, so
  // the reload that turns info off (log_level: warn) is still confirmed in the log.
  const level = current.config.log_level
  // pino ranks `silent` too (Infinity); a name it did not rank would count as the quietest.
  const rank = (name: string): number => log.levels.values[name] ?? Infinity
  const quieter = rank(level) > rank(log.level)
  if (!quieter) log.level = level
  for (const warning of result.warnings) log.warn({ trigger }, warning)
  if (result.restartNeeded.length > 0) {
    log.warn({ trigger, settings: result.restartNeeded }, `config changes ${result.restartNeeded.join(' and ')}: that needs a restart; the running values stay until then`)
  }
  log.info({ trigger, hash: result.hash, previous: previous.hash, changes: isEmptyChange(result.changes) ? 'none' : result.changes }, 'config reloaded')
  if (quieter) log.level = level
}
