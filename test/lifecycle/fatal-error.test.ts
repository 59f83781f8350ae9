import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { startTollgate } from '../helpers/child'
import { get, post } from '../helpers/http'
import { later, READY_TIMEOUT_MS, SHUTTING_DOWN, STOPPED } from './fixtures/kit'

/*
 * An uncaught exception or an unhandled rejection is logged, with its stack, at fatal
 * and goes through the same drain as a signal, then exits 1. Nothing from outside can
 * make the real CLI throw, so a fixture builds the real Shutdown and close-with-grace
 * the way src/cli.ts does, and throws on request.
 */

t.jobs = 2

const FIXTURE = join(__dirname, 'fixtures', 'fatal.ts')

const cases = {
  uncaught: { message: 'boom from a timer' },
  rejection: { message: 'boom from a promise nobody awaited' }
} as const

for (const [kind, { message }] of Object.entries(cases)) {
  t.test(`${kind === 'uncaught' ? 'an uncaught exception' : 'an unhandled rejection'}: logged fatal with its stack, drained, exit 1`, async (t) => {
    const tg = await startTollgate(t, { configYaml: '# unused by the fixture\n', entry: FIXTURE, readyTimeoutMs: READY_TIMEOUT_MS })

    let arrived = 0
    const inFlight = later(get(`${tg.proxyUrl}/slow/1500`).then((r) => { arrived = Date.now(); return r }))
    await sleep(200)
    t.equal((await post(`${tg.adminUrl}/fail/${kind}`, '')).status, 200, 'the failure is armed')

    const fatal = await tg.waitForLog((l) => l.level === 60)
    t.equal(fatal.msg, 'fatal error: shutting down')
    const err = fatal.err as { message?: string, stack?: string } | undefined
    t.equal(err?.message, message, 'the error itself')
    t.match(err?.stack, message, 'with its stack')
    t.match(err?.stack, /fixtures[/\\]fatal\.ts:\d+/, 'down to the line that threw')
    t.equal(arrived, 0, 'logged while the request was still in flight')

    // The same path as SIGTERM: readiness fails, what is in flight finishes.
    await tg.waitForLog(SHUTTING_DOWN)
    t.equal((await get(`${tg.adminUrl}/health/ready`)).status, 503, 'readiness fails')
    const finished = await inFlight
    t.equal(finished.status, 200, 'the request in flight finishes')
    t.same(finished.json(), { slow: 1500 })
    t.equal(finished.headers.connection, 'close')

    t.same(await tg.exited, { code: 1, signal: null }, 'exit 1')
    t.match(tg.logs().find(STOPPED), { drained: 1 }, 'after a full drain')
    t.notOk(tg.logs().some((l) => l.msg === 'shutdown failed'), 'the drain itself did not fail')
    t.notMatch(tg.stderr(), message, 'not Node\'s own crash report on stderr')
  })
}
