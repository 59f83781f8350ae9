export { buildState, retire, type LiveState } from './state'
export { reportReload, recordConfigInForce } from './reload-report'
export { Shutdown, DeadlineError, type ShutdownTiming } from './shutdown'
