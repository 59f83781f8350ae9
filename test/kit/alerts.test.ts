import { readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import t from 'tap'
import { parse } from 'yaml'
import { at } from '../helpers/at'

// What promtool does not check: every alert carries what an on-call engineer needs
// (a severity, a summary, a description, a runbook section that exists), and every
// alert is unit-tested both ways in alerts.test.yml.

const REPO_ROOT = resolve(__dirname, '..', '..')
const RUNBOOK_URL = 'https://github.com/tollgate/tollgate/blob/main/docs/runbook.md#'
const SEVERITIES = ['critical', 'warning']

interface Rule {
  alert?: string
  record?: string
  expr: string
  for?: string
  labels?: Record<string, string>
  annotations?: Record<string, string>
}
interface RulesFile { groups: Array<{ name: string, rules: Rule[] }> }
interface AlertCase { eval_time: string, alertname: string, exp_alerts?: Array<{ exp_labels?: Record<string, string>, exp_annotations?: Record<string, string> }> | null }
interface TestsFile { rule_files: string[], tests: Array<{ name?: string, alert_rule_test?: AlertCase[] }> }

const read = (path: string): string => readFileSync(join(REPO_ROOT, path), 'utf8')
const rulesFile = parse(read('prometheus/alerts.yml')) as RulesFile
const testsFile = parse(read('prometheus/alerts.test.yml')) as TestsFile
const alerts = rulesFile.groups.flatMap((group) => group.rules).filter((rule) => rule.alert !== undefined)
const alertNames = alerts.map((rule) => rule.alert as string)

/**
 * The anchors GitHub gives the headings of a Markdown file: lowercase, punctuation
 * other than `-` and `_` removed, spaces to `-`, and `-1`, `-2`... on repeats.
 */
function headingAnchors (markdown: string): Set<string> {
  const anchors = new Set<string>()
  const seen = new Map<string, number>()
  let fenced = false
  for (const line of markdown.split('\n')) {
    if (line.startsWith('```')) fenced = !fenced
    const heading = fenced ? null : /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line)
    if (heading === null) continue
    const base = at(heading, 1).toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-')
    const count = seen.get(base) ?? 0
    seen.set(base, count + 1)
    anchors.add(count === 0 ? base : `${base}-${count}`)
  }
  return anchors
}

t.test('headingAnchors follows GitHub', async (t) => {
  const anchors = headingAnchors('# Run book\n## TollgateDown\n```sh\n# not a heading\n```\n## What? It\'s `down`!\n## Run book\n')
  t.same([...anchors], ['run-book', 'tollgatedown', 'what-its-down', 'run-book-1'])
})

t.test('the rule file has the alerts of the design, in group tollgate', async (t) => {
  t.same(rulesFile.groups.map((group) => group.name), ['tollgate'])
  t.same([...alertNames].sort(), [
    'TollgateConfigReloadFailing',
    'TollgateDown',
    'TollgateEventLoopLag',
    'TollgateHighLimitedRatio',
    'TollgateRedisCircuitOpen',
    'TollgateRedisDown',
    'TollgateSlowRateLimitCheck',
    'TollgateUpstreamDown',
    'TollgateUpstreamErrors'
  ])
})

t.test('every alert has for, severity, summary, description and a runbook section', async (t) => {
  const anchors = headingAnchors(read('docs/runbook.md'))
  for (const rule of alerts) {
    const name = rule.alert as string
    t.match(rule.for, /^\d+[smh]$/, `${name}: for`)
    t.ok(SEVERITIES.includes(rule.labels?.severity ?? ''), `${name}: severity is one of ${SEVERITIES.join(', ')}`, { found: rule.labels?.severity })
    t.ok((rule.annotations?.summary ?? '').trim().length > 0, `${name}: summary`)
    t.ok((rule.annotations?.description ?? '').trim().length > 0, `${name}: description`)
    const url = rule.annotations?.runbook_url ?? ''
    t.ok(url.startsWith(RUNBOOK_URL), `${name}: runbook_url points into docs/runbook.md`, { found: url })
    const anchor = url.slice(RUNBOOK_URL.length)
    t.ok(anchors.has(anchor), `${name}: docs/runbook.md has a heading with anchor #${anchor}`)
  }
})

t.test('every alert-named runbook section is an alert that exists', async (t) => {
  const sections = read('docs/runbook.md').split('\n').filter((line) => /^## Tollgate/.test(line)).map((line) => line.slice(3).trim())
  t.same([...sections].sort(), [...alertNames].sort())
})

t.test('every alert is unit-tested firing and silent', async (t) => {
  t.same(testsFile.rule_files, ['alerts.yml'])
  const cases = testsFile.tests.flatMap((test) => test.alert_rule_test ?? [])
  for (const testCase of cases) t.ok(alertNames.includes(testCase.alertname), `a test case names an alert that exists: ${testCase.alertname}`)
  for (const rule of alerts) {
    const name = rule.alert as string
    const own = cases.filter((testCase) => testCase.alertname === name)
    const firing = own.filter((testCase) => (testCase.exp_alerts ?? []).length > 0)
    const silent = own.filter((testCase) => (testCase.exp_alerts ?? []).length === 0)
    t.ok(firing.length > 0, `${name}: a case where it fires`)
    t.ok(silent.length > 0, `${name}: a case where it stays silent`)
    for (const expected of firing.flatMap((testCase) => testCase.exp_alerts ?? [])) {
      t.equal(expected.exp_labels?.severity, rule.labels?.severity, `${name}: the firing case expects its severity`)
      t.same(Object.keys(expected.exp_annotations ?? {}).sort(), Object.keys(rule.annotations ?? {}).sort(),
        `${name}: the firing case expects every annotation (promtool then compares them exactly)`)
    }
  }
})
