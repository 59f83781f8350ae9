import { execFileSync } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { credentials, makeClientConstructor, type ServiceDefinition, type ServiceError } from '@grpc/grpc-js'
import { loadProtos, RLS_SERVICE } from '../src/grpc/proto'
import { startRedis } from '../test/helpers/redis'
import { cpuSeconds } from './proc-stat'
import { Procs, REPO_ROOT, sleep, waitForStdout } from './procs'

/**
 * ShouldRateLimit calls per second against compiled tollgate (`npm run build`, then
 * `node bin/tollgate.js`), one descriptor per call, from a grpc-js client keeping
 * `--concurrency` calls in flight on one channel (as Envoy multiplexes its calls on one
 * HTTP/2 connection). Reports calls/s and µs of tollgate CPU per call (/proc/PID/stat,
 * user + system). With Redis (the default), like the HTTP rows of bench/run.ts.
 *
 *   node test/helpers/run-ts.js bench/grpc-load.ts [--seconds 10] [--concurrency 32] [--no-redis] [--no-build]
 */

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    concurrency: { type: 'string', default: '32' },
    'no-redis': { type: 'boolean', default: false },
    'no-build': { type: 'boolean', default: false }
  }
})
const SECONDS = Number(values.seconds)
const CONCURRENCY = Number(values.concurrency)
/** Distinct remote addresses: many subjects, as real traffic has, every call allowed. */
const ADDRESSES = 1000

type Unary = (request: unknown, callback: (error: ServiceError | null, reply: { overall_code: string }) => void) => void

const procs = new Procs()

async function main (): Promise<void> {
  if (values['no-build'] !== true) execFileSync('npm', ['run', 'build'], { cwd: REPO_ROOT, stdio: 'ignore' })
  const redis = values['no-redis'] === true ? undefined : await startRedis(procs)
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-grpc-bench-'))
  procs.removeOnExit(dir)
  const configPath = join(dir, 'config.yml')
  writeFileSync(configPath, `
listen: { proxy: 127.0.0.1:0, admin: 127.0.0.1:0, grpc: 127.0.0.1:0 }
${redis === undefined ? '' : `redis: redis://127.0.0.1:${redis.port}`}
log_level: info
plans:
  anonymous: [ { max: 1000000000, per: 1s } ]
rls:
  domains:
    edge:
      - match: [ { key: remote_address } ]
        plan: anonymous
`)
  const tollgate = procs.start('tollgate', process.execPath, [join(REPO_ROOT, 'bin', 'tollgate.js'), '--config', configPath], { stdio: ['ignore', 'pipe', 'pipe'] })
  const match = await waitForStdout(tollgate, /^(.*"msg":"tollgate listening".*)\n/m, 30_000)
  const address = (JSON.parse(match[1] ?? '{}') as { grpc: string }).grpc

  const definition = loadProtos()
  // A service in our .proto files (proto-loader types entries as a union).
  const Rls = makeClientConstructor(definition[RLS_SERVICE] as ServiceDefinition, 'RateLimitService')
  const client = new Rls(address, credentials.createInsecure())
  // makeClientConstructor adds the methods at run time; its type cannot name them.
  const should = (client as unknown as Record<string, Unary>).ShouldRateLimit
  if (should === undefined) throw new Error('no ShouldRateLimit method')
  let sent = 0
  const call = async (): Promise<string> => await new Promise((resolve, reject) => {
    sent++
    should.call(client, { domain: 'edge', descriptors: [{ entries: [{ key: 'remote_address', value: `10.0.${(sent % ADDRESSES) >> 8}.${sent % 256}` }] }] }, (error, reply) => {
      if (error !== null) reject(error)
      else resolve(reply.overall_code)
    })
  })
  // Warm up: connection, JIT, the script loaded into Redis.
  for (let i = 0; i < 2000; i++) await call()

  const codes = new Map<string, number>()
  let stop = false
  const cpuBefore = cpuSeconds(tollgate.pid)
  const started = performance.now()
  await Promise.all([
    ...Array.from({ length: CONCURRENCY }, async () => {
      while (!stop) {
        const code = await call().catch((error: ServiceError) => `error ${error.code}`)
        codes.set(code, (codes.get(code) ?? 0) + 1)
      }
    }),
    sleep(SECONDS * 1000).then(() => { stop = true })
  ])
  const elapsed = (performance.now() - started) / 1000
  const cpu = cpuSeconds(tollgate.pid) - cpuBefore
  const calls = [...codes.values()].reduce((a, b) => a + b, 0)
  client.close()
  process.stdout.write(`ShouldRateLimit, 1 descriptor, ${CONCURRENCY} in flight, ${redis === undefined ? 'embedded store' : 'redis'}: ` +
    `${Math.round(calls / elapsed)} calls/s, ${Math.round((cpu / calls) * 1e6)} µs tollgate CPU per call ` +
    `(${calls} calls in ${elapsed.toFixed(1)} s; codes ${JSON.stringify(Object.fromEntries(codes))})\n`)
}

main().then(async () => { await procs.stopAll() }, async (error: unknown) => {
  process.stderr.write(`grpc-load: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`)
  await procs.stopAll()
  process.exitCode = 1
})
