import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'

/**
 * What the bench reads from /proc about the processes it measures: CPU time, resident
 * memory, children (nginx's workers) and the whole machine's busy time.
 */

/** Clock ticks per second, the unit of /proc/PID/stat's CPU fields. */
export const CLK_TCK = ((): number => {
  try {
    const value = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim())
    return Number.isFinite(value) && value > 0 ? value : 100
  } catch {
    return 100
  }
})()

/** The fields of /proc/PID/stat after `comm`: index 0 is field 3 (state). */
function statFields (pid: number): string[] {
  let stat: string
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  } catch (error) {
    throw new Error(`cannot read /proc/${pid}/stat: the process has exited (${error instanceof Error ? error.message : String(error)})`)
  }
  // Field 2 (comm) is in parentheses and may hold spaces: count from after its ')'.
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')
}

/** CPU seconds (user + system, all threads) a process has used so far: fields 14 and 15. */
export function cpuSeconds (pid: number): number {
  const fields = statFields(pid)
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK
}

/** VmRSS from /proc/PID/status, in bytes; NaN when the process is gone. */
export function rssBytes (pid: number): number {
  try {
    const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return match?.[1] === undefined ? NaN : Number(match[1]) * 1024
  } catch {
    return NaN
  }
}

/** The live children of a process (field 4 of /proc/PID/stat is the parent's pid). */
export function childPids (parent: number): number[] {
  const children: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      if (Number(statFields(Number(entry))[1]) === parent) children.push(Number(entry))
    } catch {
      // exited while we looked
    }
  }
  return children
}

/** Busy and total jiffies of the whole machine, from the first line of /proc/stat. */
export function machineJiffies (): { busy: number, total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? ''
  const values = line.trim().split(/\s+/).slice(1).map(Number)
  // user nice system idle iowait irq softirq steal guest guest_nice; guest is already in user.
  const total = values.slice(0, 8).reduce((a, b) => a + b, 0)
  const idle = (values[3] ?? 0) + (values[4] ?? 0)
  return { busy: total - idle, total }
}

/**
 * CPU seconds of this process plus its reaped children (fields 14–17 of /proc/self/stat):
 * the bench itself and every wrk that has exited, so the load generator's CPU wherever it runs.
 */
export function ownAndChildrenCpuSeconds (): number {
  const fields = statFields(process.pid)
  return (Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14])) / CLK_TCK
}
