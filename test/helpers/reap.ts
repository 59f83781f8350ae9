import type { ChildProcess } from 'node:child_process'

const running = new Set<ChildProcess>()
let hooked = false

/**
 * SIGKILLs the child if the test process exits while it still runs. `t.teardown` does
 * the normal cleanup; this covers the exits that skip it (a test that throws at top
 * level, `process.exit` in a test), where an orphaned redis-server or tollgate would
 * keep its port and its CPU for the rest of the run.
 */
export function reapOnExit (child: ChildProcess): void {
  running.add(child)
  child.once('exit', () => running.delete(child))
  if (hooked) return
  hooked = true
  process.once('exit', () => {
    for (const c of running) c.kill('SIGKILL')
  })
}

/** SIGKILLs the child unless it already exited, and resolves once it has. */
export async function killAndWait (child: ChildProcess): Promise<void> {
  // No pid: the spawn itself failed, and there is no process to wait for.
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  child.kill('SIGKILL')
  await exited
}
