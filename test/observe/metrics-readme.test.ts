import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Counter, Gauge, Histogram } from 'prom-client'
import t from 'tap'
import { createMetrics } from '../../src/observe/metrics'
import { at } from '../helpers/at'
import { REPO_ROOT } from '../helpers/spawn-ts'

// The README's metric table (## Observability → ### Metrics) is what operators build
// dashboards and alerts from: it must name every metric createMetrics() makes, no
// more, each with its labels.

interface Row { readonly name: string, readonly labels: string[] }

/** The first table under `### Metrics` inside `## Observability`: | metric | labels | meaning |. */
function readmeMetricsTable (readme: string): Row[] {
  const section = /^## Observability\n([\s\S]*?)(?=^## |(?![\s\S]))/m.exec(readme)?.[1]
  if (section === undefined) throw new Error('README.md has no "## Observability" section')
  const subsection = /^### Metrics\n([\s\S]*?)(?=^### |(?![\s\S]))/m.exec(section)?.[1]
  if (subsection === undefined) throw new Error('README.md has no "### Metrics" under "## Observability"')
  const lines = subsection.split('\n')
  const start = lines.findIndex((line) => /^\|\s*metric\s*\|\s*labels\s*\|/.test(line))
  if (start === -1) throw new Error('no "| metric | labels | ... |" table under "### Metrics"')
  const rows: Row[] = []
  for (const line of lines.slice(start + 2)) {
    if (!line.startsWith('|')) break
    const [metric, labelCell] = line.split('|').slice(1, -1).map((cell) => cell.trim())
    if (metric === undefined || labelCell === undefined) throw new Error(`a row has a metric cell and a labels cell: ${line}`)
    const name = /^`([a-z0-9_]+)`$/.exec(metric)?.[1]
    if (name === undefined) throw new Error(`the first cell is not a backticked metric name: ${line}`)
    const labels = labelCell === '–' || labelCell === '-'
      ? []
      : labelCell.split(',').map((label) => {
        const match = /^`([a-z_]+)`$/.exec(label.trim())
        if (match === null) throw new Error(`labels are backticked names separated by commas, or –: ${line}`)
        return at(match, 1)
      })
    rows.push({ name, labels })
  }
  return rows
}

t.test('the README metric table matches createMetrics(): every name and its labels', async (t) => {
  const rows = readmeMetricsTable(readFileSync(join(REPO_ROOT, 'README.md'), 'utf8'))
  const metrics = createMetrics({ version: '0.0.0' })
  // The metric objects createMetrics() makes itself; prom-client's defaults are not in the table.
  const mine = Object.values(metrics).filter((m): m is Counter | Gauge | Histogram =>
    m instanceof Counter || m instanceof Gauge || m instanceof Histogram)
  const defined = new Map(mine.map((m) => {
    const { name, labelNames } = m as unknown as { name: string, labelNames: readonly string[] }
    return [name, [...labelNames]]
  }))
  t.ok(defined.size >= 15, `createMetrics() makes ${defined.size} metrics`)
  t.same(rows.map((r) => r.name).filter((name, i, all) => all.indexOf(name) !== i), [], 'no metric listed twice')
  t.same(rows.map((r) => r.name).sort(), [...defined.keys()].sort(), 'the README lists exactly the metrics of createMetrics()')
  for (const row of rows) {
    const labelNames = defined.get(row.name)
    if (labelNames === undefined) continue
    t.same([...row.labels].sort(), [...labelNames].sort(), `${row.name}: labels ${labelNames.join(', ') || '–'}`)
  }
})
