import { spawn, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import t, { type Test } from 'tap'
import { startTollgate, type Tollgate } from '../helpers/child'
import { REPO_ROOT } from '../helpers/spawn-ts'
import { get } from '../helpers/http'
import { reapOnExit } from '../helpers/reap'
import { LISTEN } from '../helpers/stack'

/*
 * A hung app (issue 9: SIGSTOP passed the TCP check). The demo app (examples/app) in a
 * child process of its own, stopped with SIGSTOP: the kernel still completes TCP
 * handshakes into its listen backlog, so a connect "succeeds", while a GET of
 * `upstream_health.path` gets no answer. The path check must see it down within
 * interval + timeout; the TCP check, documented as such, still sees it up.
 */

t.jobs = 2

const INTERVAL_MS = 1000
const TIMEOUT_MS = 500
/** A loaded machine: scrapes every 100 ms and a check that runs late. */
const SLACK_MS = 1500

interface App { readonly url: string, readonly child: ChildProcess }

async function startDemoApp (t: Test): Promise<App> {
  const child = spawn(process.execPath, [join(REPO_ROOT, 'examples', 'app', 'server.js')], {
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'inherit']
  })
  reapOnExit(child)
  t.teardown(() => {
    // A stopped process ignores SIGKILL only until it is continued; kill then continue.
    child.kill('SIGKILL')
    child.kill('SIGCONT')
  })
  const url = await new Promise<string>((resolve, reject) => {
    let out = ''
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk
      const line = out.split('\n').find((l) => l.includes('demo app listening'))
      if (line !== undefined) resolve((JSON.parse(line) as { url: string }).url)
    })
    child.once('exit', () => reject(new Error(`demo app exited: ${out}`)))
  })
  return { url, child }
}

async function upstreamUp (tg: Tollgate): Promise<number | undefined> {
  const line = (await get(`${tg.adminUrl}/metrics`)).body.split('\n').find((l) => l.startsWith('tollgate_upstream_up '))
  return line === undefined ? undefined : Number(line.slice('tollgate_upstream_up '.length))
}

/** ms until the gauge reads `value`, or undefined if it did not within `withinMs`. */
async function untilUp (tg: Tollgate, value: number, withinMs: number): Promise<number | undefined> {
  const started = Date.now()
  while (Date.now() - started < withinMs) {
    if (await upstreamUp(tg) === value) return Date.now() - started
    await sleep(100)
  }
  return undefined
}

const config = (app: string, health: string): string => `${LISTEN}
upstream: ${app}
upstream_health: ${health}
plans: { anonymous: [ { max: 1000, per: 1s } ] }
`

t.test('upstream_health.path: a SIGSTOPped app is down within interval + timeout, and up again on SIGCONT', async (t) => {
  const app = await startDemoApp(t)
  const tg = await startTollgate(t, { configYaml: config(app.url, `{ path: /healthz, interval: ${INTERVAL_MS}ms, timeout: ${TIMEOUT_MS}ms }`), readyTimeoutMs: 30_000 })
  t.ok(await untilUp(tg, 1, 3000) !== undefined, 'up while the app runs')
  app.child.kill('SIGSTOP')
  const downAfter = await untilUp(tg, 0, INTERVAL_MS + TIMEOUT_MS + SLACK_MS)
  t.ok(downAfter !== undefined, `seen down ${String(downAfter)} ms after SIGSTOP (interval ${INTERVAL_MS} ms + timeout ${TIMEOUT_MS} ms)`)
  t.comment(`path check: down ${String(downAfter)} ms after SIGSTOP`)
  const ready = await get(`${tg.adminUrl}/health/ready`)
  t.equal(ready.status, 503, 'readiness fails')
  t.same(ready.json(), { status: 'fail', failing: ['upstream'] })
  app.child.kill('SIGCONT')
  t.ok(await untilUp(tg, 1, INTERVAL_MS + TIMEOUT_MS + SLACK_MS) !== undefined, 'up again once the app runs again')
})

t.test('the TCP check (no path) still sees a SIGSTOPped app up: why the path is recommended', async (t) => {
  const app = await startDemoApp(t)
  const tg = await startTollgate(t, { configYaml: config(app.url, `{ interval: ${INTERVAL_MS}ms, timeout: ${TIMEOUT_MS}ms }`), readyTimeoutMs: 30_000 })
  t.ok(await untilUp(tg, 1, 3000) !== undefined, 'up while the app runs')
  app.child.kill('SIGSTOP')
  t.equal(await untilUp(tg, 0, INTERVAL_MS + TIMEOUT_MS + SLACK_MS), undefined, 'still up: the kernel accepts the connect for the stopped process')
  t.equal((await get(`${tg.adminUrl}/health/ready`)).status, 200, 'and ready')
})
