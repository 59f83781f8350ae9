export { guardMutations, type GuardOptions } from './guard'
export { isLoopbackBind } from './loopback'
