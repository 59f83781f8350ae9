export { Shutdown, Draining, DeadlineError, type ShutdownTiming } from './shutdown'
export { Signals, type SignalsOptions } from './signals'
