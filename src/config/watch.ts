import { watch, type FSWatcher } from 'node:fs'
import { dirname } from 'node:path'

export interface WatchOptions {
  /** Quiet time after the last event before `onChange` runs: editors write in bursts. Default 200 ms. */
  readonly debounceMs?: number
  /**
   * The longest an event waits for that quiet time. A file written every 50 ms in the
   * same directory (a log, a lock) would otherwise restart the debounce forever and
   * leave a real edit to the poll. Default 1 s.
   */
  readonly maxWaitMs?: number
  /** Safety net for filesystems whose events are lost (network mounts): `onChange` this often. Default 10 s. */
  readonly pollMs?: number
  /**
   * Told when the watch cannot be set up (no such directory) or reports an error; polling
   * goes on. A directory removed later is not an error to inotify: its watch just goes
   * deaf, and the poll is what still sees the file.
   */
  readonly onError?: (error: unknown) => void
}

export interface ConfigWatch {
  close(): void
}

/**
 * Calls `onChange` when the config file may have changed. It watches the file's
 * directory, not the file: a watch on the file goes deaf after the first atomic rename
 * (editors, deploy tools), and a Kubernetes ConfigMap update swaps the `..data` symlink
 * so its events name `..data`, `..data_tmp` and a `..<timestamp>` directory, never the
 * file. So events are not filtered by name (nor could a name filter know that config.yml
 * links to a sibling file), and the path is not resolved to its target (that target is
 * the directory the next swap deletes). The receiver dedupes by content hash, so a
 * spurious call costs one read of the file; a busy directory costs one read per maxWaitMs.
 */
export function watchConfig (path: string, onChange: () => void, options: WatchOptions = {}): ConfigWatch {
  const debounceMs = options.debounceMs ?? 200
  const maxWaitMs = options.maxWaitMs ?? 1000
  let timer: NodeJS.Timeout | undefined
  /** When the first event not yet answered came (monotonic ms). */
  let pendingSince: number | undefined
  const fire = (): void => {
    pendingSince = undefined
    onChange()
  }
  const schedule = (): void => {
    const now = performance.now()
    pendingSince ??= now
    clearTimeout(timer)
    timer = setTimeout(fire, Math.max(0, Math.min(debounceMs, pendingSince + maxWaitMs - now)))
    timer.unref()
  }

  let watcher: FSWatcher | undefined
  try {
    watcher = watch(dirname(path), { persistent: false }, schedule)
    watcher.on('error', (error) => options.onError?.(error))
  } catch (error) {
    options.onError?.(error)
  }
  const poll = setInterval(onChange, options.pollMs ?? 10_000)
  poll.unref()

  return {
    close () {
      clearTimeout(timer)
      clearInterval(poll)
      watcher?.close()
    }
  }
}
