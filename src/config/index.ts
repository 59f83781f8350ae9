export { ConfigSchema, durationMs, type Config, type WindowConfig, type AlgorithmName } from './schema'
export { parseConfig, loadConfigFile, type LoadResult } from './load'
