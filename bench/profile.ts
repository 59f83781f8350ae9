/**
 * Reads a V8 `.cpuprofile` (from `node --cpu-prof`) and summarizes where the time went:
 * the top functions by self time, and self time per package (node_modules/<pkg>,
 * tollgate's own dist/ files, Node's internals, GC). Used by `npm run bench -- --profile`.
 */

interface CallFrame {
  functionName: string
  url: string
  lineNumber: number
}

interface ProfileNode {
  id: number
  callFrame: CallFrame
}

interface CpuProfile {
  nodes: ProfileNode[]
  samples: number[]
  timeDeltas: number[]
}

function shortUrl (url: string, root: string): string {
  let path = url.replace(/^file:\/\//, '')
  if (path.startsWith(root)) path = path.slice(root.length + 1)
  const modules = path.lastIndexOf('node_modules/')
  return modules === -1 ? path : path.slice(modules + 'node_modules/'.length)
}

function packageOf (frame: CallFrame, root: string): string {
  const url = frame.url
  if (url === '') {
    // (garbage collector), (program), (idle), or a native/builtin function
    return frame.functionName.startsWith('(') ? frame.functionName : '(native)'
  }
  if (url.startsWith('node:')) return 'node core (JS)'
  const path = url.replace(/^file:\/\//, '')
  const modules = path.lastIndexOf('node_modules/')
  if (modules !== -1) {
    const [scope = '', name = ''] = path.slice(modules + 'node_modules/'.length).split('/')
    return scope.startsWith('@') ? `${scope}/${name}` : scope
  }
  if (path.startsWith(root)) return `tollgate ${path.slice(root.length + 1).split('/').slice(0, 2).join('/')}`
  return path
}

/**
 * `window`: only samples taken between these times, in ms since the profile started
 * (default: all of it).
 */
export function summarizeProfile (json: string, root: string, top: number, window?: { fromMs: number, toMs: number }): string {
  const profile = JSON.parse(json) as CpuProfile
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const selfUs = new Map<number, number>()
  const fromUs = (window?.fromMs ?? 0) * 1000
  const toUs = (window?.toMs ?? Infinity) * 1000
  let at = 0
  for (let i = 0; i < profile.samples.length; i++) {
    const delta = profile.timeDeltas[i] ?? 0
    at += delta
    const sample = profile.samples[i]
    if (sample === undefined || at < fromUs || at > toUs) continue
    selfUs.set(sample, (selfUs.get(sample) ?? 0) + delta)
  }

  const byFunction = new Map<string, number>()
  const byPackage = new Map<string, number>()
  let total = 0
  let idle = 0
  for (const [id, us] of selfUs) {
    const node = byId.get(id)
    if (node === undefined) continue
    const frame = node.callFrame
    if (frame.functionName === '(idle)') {
      idle += us
      continue
    }
    total += us
    const name = `${frame.functionName === '' ? '(anonymous)' : frame.functionName}${frame.url === '' ? '' : `  ${shortUrl(frame.url, root)}:${frame.lineNumber + 1}`}`
    byFunction.set(name, (byFunction.get(name) ?? 0) + us)
    const pkg = packageOf(frame, root)
    byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + us)
  }

  const table = (title: string, entries: Map<string, number>, limit: number): string => {
    const sorted = [...entries].sort((a, b) => b[1] - a[1]).slice(0, limit)
    return [
      title,
      ...sorted.map(([name, us]) => `${(us / 1000).toFixed(0).padStart(7)} ms ${(us / total * 100).toFixed(1).padStart(5)}%  ${name}`)
    ].join('\n')
  }

  return [
    `CPU profile of tollgate${window === undefined ? '' : ` from ${(window.fromMs / 1000).toFixed(1)} s to ${(window.toMs / 1000).toFixed(1)} s after its start`}: ` +
      `${(total / 1000).toFixed(0)} ms busy, ${(idle / 1000).toFixed(0)} ms idle (percentages are of busy time)`,
    '',
    table('Self time by package:', byPackage, 20),
    '',
    table(`Top ${top} functions by self time:`, byFunction, top)
  ].join('\n')
}
