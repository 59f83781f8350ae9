import type { Measurement } from './measure'

/**
 * The latency plot beside RESULTS.md: one line per row, latency (log scale) against
 * percentile on the usual "nines" axis (log of 1 / (1 − p)), so the tail, where the rows
 * differ most, gets as much room as the median. Fixed-rate rows are dashed.
 */

const WIDTH = 960
const HEIGHT = 560
const MARGIN = { left: 70, right: 330, top: 40, bottom: 60 }
const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#7f7f7f', '#bcbd22']
const X_TICKS = [0, 50, 90, 99, 99.9, 99.99]

const nines = (p: number): number => Math.log10(100 / (100 - Math.min(p, 99.999)))

function escapeXml (text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
}

/** Decade and 2/5 ticks covering [lo, hi] ms. */
function yTicks (lo: number, hi: number): number[] {
  const ticks: number[] = []
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** e
      if (v >= lo && v <= hi) ticks.push(v)
    }
  }
  return ticks
}

function tickLabel (ms: number): string {
  return ms >= 1 ? `${ms} ms` : `${Number((ms * 1000).toPrecision(2))} µs`
}

export function latencySvg (ms: readonly Measurement[], title: string): string {
  const lines = ms.map((m) => ({ m, points: m.latency.filter(([, v]) => Number.isFinite(v) && v > 0) })).filter((l) => l.points.length > 1)
  const values = lines.flatMap((l) => l.points.map(([, v]) => v))
  const lo = 10 ** Math.floor(Math.log10(Math.min(...values, 1)))
  const hi = 10 ** Math.ceil(Math.log10(Math.max(...values, 10)))
  const plotW = WIDTH - MARGIN.left - MARGIN.right
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom
  const xMax = nines(X_TICKS[X_TICKS.length - 1] ?? 99.99)
  const x = (p: number): number => MARGIN.left + nines(p) / xMax * plotW
  const y = (v: number): number => MARGIN.top + plotH - (Math.log10(v) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo)) * plotH
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif" font-size="12">`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="white"/>`,
    `<text x="${MARGIN.left}" y="24" font-size="15" font-weight="bold">${escapeXml(title)}</text>`
  ]
  for (const t of yTicks(lo, hi)) {
    out.push(`<line x1="${MARGIN.left}" x2="${MARGIN.left + plotW}" y1="${y(t).toFixed(1)}" y2="${y(t).toFixed(1)}" stroke="#ddd"/>`)
    out.push(`<text x="${MARGIN.left - 6}" y="${(y(t) + 4).toFixed(1)}" text-anchor="end">${tickLabel(t)}</text>`)
  }
  for (const p of X_TICKS) {
    out.push(`<line x1="${x(p).toFixed(1)}" x2="${x(p).toFixed(1)}" y1="${MARGIN.top}" y2="${MARGIN.top + plotH}" stroke="#ddd"/>`)
    out.push(`<text x="${x(p).toFixed(1)}" y="${MARGIN.top + plotH + 18}" text-anchor="middle">p${p}</text>`)
  }
  out.push(`<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#333"/>`)
  out.push(`<text x="${MARGIN.left + plotW / 2}" y="${HEIGHT - 16}" text-anchor="middle">percentile (log scale of 1 / (1 − p))</text>`)
  out.push(`<text transform="translate(16 ${MARGIN.top + plotH / 2}) rotate(-90)" text-anchor="middle">latency (log scale)</text>`)
  lines.forEach(({ m, points }, i) => {
    const color = COLORS[i % COLORS.length] ?? '#000'
    const dash = m.row.load === 'fixed' ? ' stroke-dasharray="6 4"' : ''
    const d = points.map(([p, v], j) => `${j === 0 ? 'M' : 'L'}${x(p).toFixed(1)},${y(v).toFixed(1)}`).join(' ')
    out.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="2"${dash}/>`)
    const ly = MARGIN.top + 10 + i * 22
    const lx = MARGIN.left + plotW + 16
    out.push(`<line x1="${lx}" x2="${lx + 28}" y1="${ly}" y2="${ly}" stroke="${color}" stroke-width="2"${dash}/>`)
    out.push(`<text x="${lx + 34}" y="${ly + 4}">${escapeXml(m.row.label)}</text>`)
  })
  out.push('</svg>')
  return `${out.join('\n')}\n`
}
