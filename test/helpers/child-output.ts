import type { ChildProcess } from 'node:child_process'

// A child's stdout and stderr as they come: its JSON log lines parsed, its exit as a
// promise. Used by startTollgate (child.ts) and runCli (run-cli.ts).

/** A parsed pino line: `level`, `time`, `msg` and whatever the logger bound. */
export type LogLine = Record<string, unknown>

export interface Exit {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
}

const TAIL_CHARS = 4000

/** Collects a child's output and turns its exit into a promise. */
export class Output {
  stdout = ''
  stderr = ''
  readonly lines: LogLine[] = []
  readonly exited: Promise<Exit>
  private exit: Exit | undefined
  private partial = ''
  private readonly listeners = new Set<() => void>()

  constructor (child: ChildProcess) {
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      this.stdout += chunk
      const parts = (this.partial + chunk).split('\n')
      this.partial = parts.pop() ?? ''
      for (const part of parts) this.addLine(part)
    })
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderr += chunk
    })
    // 'close', not 'exit': it comes after stdio has ended, so a line logged just before
    // exiting is always in `lines` by the time `exited` resolves.
    this.exited = new Promise((resolve) => {
      child.once('close', (code: number | null, signal: NodeJS.Signals | null) => {
        this.addLine(this.partial)
        this.exit = { code, signal }
        resolve(this.exit)
        this.notify()
      })
      child.once('error', (err) => {
        this.stderr += `\n[spawn error] ${err.message}`
      })
    })
  }

  async waitForLog (predicate: (line: LogLine) => boolean, timeoutMs: number): Promise<LogLine> {
    return await new Promise((resolve, reject) => {
      let seen = 0
      const check = (): void => {
        for (; seen < this.lines.length; seen++) {
          const line = this.lines[seen]
          if (line !== undefined && predicate(line)) return finish(() => resolve(line))
        }
        if (this.exit !== undefined) {
          finish(() => reject(new Error(`the child exited (code ${String(this.exit?.code)}, signal ${String(this.exit?.signal)}) before logging a matching line${this.tail()}`)))
        }
      }
      const timer = setTimeout(() => {
        finish(() => reject(new Error(`no matching log line within ${timeoutMs} ms${this.tail()}`)))
      }, timeoutMs)
      const finish = (settle: () => void): void => {
        clearTimeout(timer)
        this.listeners.delete(check)
        settle()
      }
      this.listeners.add(check)
      check()
    })
  }

  tail (): string {
    return `\n--- stdout (tail) ---\n${this.stdout.slice(-TAIL_CHARS)}\n--- stderr (tail) ---\n${this.stderr.slice(-TAIL_CHARS)}`
  }

  private addLine (line: string): void {
    if (line.trim() === '') return
    try {
      const parsed: unknown = JSON.parse(line)
      if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) {
        this.lines.push(parsed as LogLine)
        this.notify()
      }
    } catch {
      // Not JSON (a stray console.log, a crash banner): kept in `stdout` only.
    }
  }

  private notify (): void {
    for (const listener of [...this.listeners]) listener()
  }
}
