import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { startTollgate } from '../helpers/child'
import { limitInForce, partialConfig as configWith, reloadTo } from '../helpers/live'
import { startUpstream } from '../helpers/upstream'

// Issue 9, finding 6 (watch starvation): a file written every 50 ms in the config's
// directory restarted the debounce at each write, so a real edit waited for the 10 s
// poll. On the real CLI: the edit applies in about a second while the writer goes on.

const sleep = async (ms: number): Promise<void> => await new Promise((resolve) => setTimeout(resolve, ms))

t.test('a busy directory does not hold a config change back to the poll', async (t) => {
  const upstream = await startUpstream(t)
  const tollgate = await startTollgate(t, { configYaml: configWith(upstream.url, 10) })
  let writing = true
  const writer = (async () => {
    for (let i = 0; writing; i++) {
      await writeFile(join(tollgate.dir, 'app.log'), `line ${i}\n`)
      await sleep(50)
    }
  })()
  t.teardown(async () => { writing = false; await writer })
  await sleep(1500)

  const started = Date.now()
  await reloadTo(tollgate, configWith(upstream.url, 20))
  const took = Date.now() - started
  t.ok(took < 2000, `applied after ${took} ms, far from the 10 s poll`)
  t.equal(await limitInForce(tollgate), '200 20')
})
