export { GrpcServer, type GrpcDeps } from './server'
