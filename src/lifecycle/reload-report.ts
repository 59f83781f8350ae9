import { ANONYMOUS, isEmptyChange, type ReloadResult, type Snapshot } from '../config'
import { zeroDecisions, type Logger, type Metrics } from '../observe'
import { retire, type LiveState } from './state'

interface ReportDeps {
  readonly log: Logger
  readonly metrics: Metrics
}

/** The decision series a config's clients need from the start. */
function configuredClients (snapshot: Snapshot<LiveState>): Array<{ client: string, plan: string }> {
  const { config } = snapshot
  return [
    ...config.keys.map((key) => ({ client: key.name, plan: key.plan })),
    ...(config.plans[ANONYMOUS] === undefined ? [] : [{ client: ANONYMOUS, plan: ANONYMOUS }])
  ]
}

/** Marks a snapshot as the one in force in the config metrics. */
export function recordConfigInForce (metrics: Metrics, snapshot: Snapshot<LiveState>): void {
  metrics.configLastReloadSuccessful.set(1)
  metrics.configLastReloadSuccessTimestamp.set(snapshot.loadedAt.getTime() / 1000)
  metrics.configInfo.reset()
  metrics.configInfo.set({ hash: snapshot.hash }, 1)
  zeroDecisions(metrics, configuredClients(snapshot))
}

/**
 * Everything that follows a reload attempt: metrics, the log (the diff by name, never
 * key material), the log level, and retiring replaced stores.
 */
export function reportReload (deps: ReportDeps, result: ReloadResult, trigger: string, current: Snapshot<LiveState>, previous: Snapshot<LiveState>): void {
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
  retire(previous.state, current.state)
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
