import t from 'tap'
import { startTollgate } from '../helpers/child'
import { descriptor, grpcAddressOf, rlsClient } from './client'

// The gRPC listener under live reload and SIGTERM, in a real tollgate process.

const config = (rules: string, shutdown = ''): string => `
listen: { proxy: 127.0.0.1:0, admin: 127.0.0.1:0, grpc: 127.0.0.1:0 }
plans:
  anonymous: [ { max: 1000, per: 1h } ]
  tight: [ { max: 3, per: 1h, algorithm: fixed } ]
${shutdown}
rls:
  domains:
    edge:
      - match: [ { key: remote_address } ]
        plan: anonymous
${rules}
`

t.test('a reload that changes a domain\'s rules applies to the next call, with no call failing meanwhile', async (t) => {
  const tollgate = await startTollgate(t, { configYaml: config('') })
  const client = rlsClient(t, grpcAddressOf(tollgate.logs()))
  const tenant = descriptor(['tenant', 'blue'])
  const seen: Array<{ code: string, limit: string | undefined }> = []
  const failures: unknown[] = []
  let running = true
  const loops = Array.from({ length: 4 }, async () => {
    while (running) {
      try {
        const reply = await client.should('edge', [tenant, descriptor(['remote_address', '10.9.9.9'])])
        seen.push({ code: reply.overall_code, limit: reply.statuses[0]?.current_limit?.name })
      } catch (error) {
        failures.push(error)
      }
    }
  })
  while (seen.length < 20) await new Promise((resolve) => setTimeout(resolve, 20))
  t.ok(seen.every((s) => s.code === 'OK' && s.limit === undefined), 'no rule for tenant yet: OK, no limit')

  await tollgate.writeConfig(config(`      - match: [ { key: tenant } ]
        plan: tight`))
  await tollgate.waitForLog((l) => l.msg === 'config reloaded', 15_000)
  const at = seen.length
  while (seen.slice(at).filter((s) => s.code === 'OVER_LIMIT').length < 10) await new Promise((resolve) => setTimeout(resolve, 20))
  running = false
  await Promise.all(loops)

  t.strictSame(failures, [], 'no call failed across the reload')
  // Up to one call per loop was in flight on the old config when the reload landed.
  const after = seen.slice(at + loops.length)
  t.ok(after.every((s) => s.limit === 'tight-1h'), 'every call after the reload is under the new rule')
  t.equal(seen.filter((s) => s.limit === 'tight-1h' && s.code === 'OK').length, 3, 'which allowed exactly its 3')
})

t.test('SIGTERM: health turns NOT_SERVING at once, calls are answered through drain_delay, then exit 0', async (t) => {
  const tollgate = await startTollgate(t, { configYaml: config('', 'shutdown: { drain_delay: 2s, grace: 5s }') })
  const client = rlsClient(t, grpcAddressOf(tollgate.logs()))
  t.equal(await client.health(), 'SERVING')
  tollgate.signal('SIGTERM')
  await tollgate.waitForLog((l) => typeof l.msg === 'string' && l.msg.startsWith('shutting down'))
  t.equal(await client.health(), 'NOT_SERVING', 'Envoy and Kubernetes see it at once')
  const during = await client.should('edge', [descriptor(['remote_address', '10.0.0.1'])])
  t.equal(during.overall_code, 'OK', 'still deciding during drain_delay')
  const exit = await tollgate.exited
  t.equal(exit.code, 0)
  t.ok(tollgate.logs().some((l) => l.msg === 'tollgate stopped: drained'))
})
