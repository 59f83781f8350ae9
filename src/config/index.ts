export { ConfigSchema, KEY_PATTERN, WindowSchema, type Config, type WindowConfig } from './schema'
export { durationMs, MAX_AMOUNT } from './bounds'
export {
  ALGORITHMS, ANONYMOUS, APPLIED_RELOAD_RESULTS, NAME_PATTERN, NO_PLAN, REDIS_ERROR_MODES, RELOAD_RESULTS, UNKNOWN_CLIENT,
  type Algorithm, type AppliedReloadResult, type RedisErrorMode, type ReloadOutcome
} from './vocabulary'
export { parseConfig, loadConfigFile, type LoadResult } from './load'
export { LiveConfig, type Snapshot, type ReloadResult, type LastReload } from './live'
export { diffConfig, isEmptyChange, RESTART_ONLY, type ConfigChanges } from './diff'
export { watchConfig, type ConfigWatch } from './watch'
export { API_KEY_ENTRY, type RlsConfig } from './schema-rls'
export { keysSummary } from './summary'
export { redisSummary, type RedisConfig } from './schema-redis'
export { configuredClients, recordConfigInForce, reportReload, type ReloadMetrics } from './reload-report'
export { adminTokens, SINGLE_TOKEN_NAME } from './schema-admin'
export { DURATION_PATTERN } from './duration'
export { compileChecker } from './validate'
export { Duration } from './duration'
