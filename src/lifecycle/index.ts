export { buildState, retire, type LiveState } from './state'
export { reportReload, recordConfigInForce } from './reload-report'
