export { createLogger, redactPaths, AccessLog, type Logger } from './logger'
export { registerHealthRoutes, type ReadinessCheck } from './health'
