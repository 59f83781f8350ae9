import { watch, type FSWatcher } from 'node:fs'
import { dirname } from 'node:path'

export interface WatchOptions {
  /** Quiet time after the last event before `onChange` runs: editors write in bursts. Default 200 ms. */
  readonly debounceMs?: number
  /** Safety net for filesystems whose events are lost (network mounts): `onChange` this often. Default 10 s. */
  readonly pollMs?: number
  /**
   * Told when the watch cannot be set up (no such directory) or reports an error; polling
   * goes on. A directory removed later is not an error to inotify: its watch just goes
   * deaf, and the poll is what still sees the file.
   */
  readonly onError?: (error: Error) => void
}

export interface ConfigWatch {
  close(): void
}

/**
 * Calls `onChange` when the config file may have changed. It watches the file's
 * directory, not the file: a watch on the file goes deaf after the first atomic rename
 * (editors, deploy tools), and a Kubernetes ConfigMap update swaps the `..data` symlink
 * so its events name `..data`, `..data_tmp` and a `..<timestamp>` directory, never the
 * file. So events are not filtered by name, and the path is not resolved to its target
 * (that target is the directory the next swap deletes). The receiver dedupes by content
 * hash, so a spurious call costs one read of the file.
 */
export function watchConfig (path: string, onChange: () => void, options: WatchOptions = {}): ConfigWatch {
  const debounceMs = options.debounceMs ?? 200
  let timer: NodeJS.Timeout | undefined
  const schedule = (): void => {
    clearTimeout(timer)
    timer = setTimeout(onChange, debounceMs)
    timer.unref()
  }

  let watcher: FSWatcher | undefined
  try {
    watcher = watch(dirname(path), { persistent: false }, schedule)
    watcher.on('error', (error) => options.onError?.(error))
  } catch (error) {
    options.onError?.(error as Error)
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
