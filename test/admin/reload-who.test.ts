import t, { type Test } from 'tap'
import { textHash } from '../../src/config/load'
import { startTollgate, type Tollgate } from '../helpers/child'
import { type LogLine } from '../helpers/child-output'
import { get, send } from '../helpers/http'

// The audit trail's "who" for a reload: the admin token's name for POST /-/reload (with
// `what.trigger` saying how), 'SIGHUP' for the signal, 'watch' for the file watch. A real
// child process, its real config file edited, a real signal.

const TOKENS = { alice: 'alice-token-0123456789', ci: 'ci-bot-token-9876543210' }
const config = (max: number): string => `
listen: { proxy: 127.0.0.1:0, admin: 127.0.0.1:0 }
shutdown: { drain_delay: 0s, grace: 1s }
admin:
  token:
    - { name: alice, token: ${TOKENS.alice} }
    - { name: ci-bot, token: ${TOKENS.ci} }
plans:
  free: [ { max: ${max}, per: 1m } ]
`
/** Reload attempts per case: the watch (200 ms debounce) may apply an edit before the trigger under test does. */
const ATTEMPTS = 3

const isReloadAudit = (l: LogLine): boolean => l.audit === true && l.kind === 'reload'
let max = 10

/** Edits the file, pulls `trigger`, and returns the audit line of that edit once one is logged. */
async function edit (g: Tollgate, trigger: () => Promise<void>): Promise<LogLine> {
  const before = g.logs().filter(isReloadAudit).length
  max++
  const text = config(max)
  await g.writeConfig(text)
  await trigger()
  const line = await g.waitForLog((l) => isReloadAudit(l) && g.logs().filter(isReloadAudit).length > before, 5000)
  // The entry of this edit, not of an earlier one: the new config's hash.
  if (!JSON.stringify(line.config_hash).includes(`"new":"${textHash(text)}"`)) throw new Error(`not this edit's entry: ${JSON.stringify(line)}`)
  return line
}

/** The audit line of an edit applied by `trigger`, retried while the watch was faster. */
async function reloadBy (t: Test, g: Tollgate, trigger: () => Promise<void>): Promise<LogLine> {
  for (let i = 1; ; i++) {
    const line = await edit(g, trigger)
    if (line.who !== 'watch' || i === ATTEMPTS) return line
    t.comment(`attempt ${i}: the watch applied the edit first`)
  }
}

const stored = async (g: Tollgate): Promise<Array<Record<string, unknown>>> =>
  ((await get(`${g.adminUrl}/v1/audit?limit=10`, { authorization: `Bearer ${TOKENS.alice}` })).json() as { entries: Array<Record<string, unknown>> }).entries

t.test('POST /-/reload records the token\'s name and its trigger; SIGHUP and the watch record themselves', async (t) => {
  const g = await startTollgate(t, { configYaml: config(max) })
  const post = (token: string) => async (): Promise<void> => {
    const res = await send('POST', `${g.adminUrl}/-/reload`, { authorization: `Bearer ${token}` })
    if (res.status !== 200) throw new Error(`reload: ${res.status} ${res.body}`)
  }

  for (const [name, token] of [['alice', TOKENS.alice], ['ci-bot', TOKENS.ci]] as const) {
    const line = await reloadBy(t, g, post(token))
    t.match(line, { who: name, action: 'reload', what: { trigger: 'POST /-/reload' } }, `${name}'s token`)
    t.notOk(JSON.stringify(line).includes(token), 'the token is not in the audit line')
    t.match((await stored(g))[0], { kind: 'reload', who: name, what: { trigger: 'POST /-/reload' }, config_hash: line.config_hash }, 'kept in the audit list, newest first')
  }

  const hup = await reloadBy(t, g, async () => { g.signal('SIGHUP') })
  t.match(hup, { who: 'SIGHUP', what: { trigger: 'SIGHUP' } })
  t.match((await stored(g))[0], { who: 'SIGHUP', what: { trigger: 'SIGHUP' }, config_hash: hup.config_hash })

  const watched = await edit(g, async () => {})
  t.match(watched, { who: 'watch', what: { trigger: 'watch' } }, 'an edit alone is the watch\'s')
  // Four at least; more when the watch won an attempt, which is a change too.
  const reloads = g.logs().filter(isReloadAudit).length
  t.ok(reloads >= 4)
  t.match((await get(`${g.adminUrl}/metrics`)).body, new RegExp(`tollgate_admin_changes_total\\{kind="reload"\\} ${reloads}\\n`), 'one change counted per audit line')
})
