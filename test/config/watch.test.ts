import { mkdir, mkdtemp, rename, rm, symlink, unlink, utimes, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import type { Test } from 'tap'
import { watchConfig } from '../../src/config'

// `watchConfig` against a real directory with real inotify events: what wakes it, how
// bursts are merged, and that the poll goes on when the watch cannot.

const sleep = async (ms: number): Promise<void> => await new Promise((resolve) => setTimeout(resolve, ms))

async function tempDir (t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'tollgate-watch-'))
  t.teardown(async () => await rm(dir, { recursive: true, force: true }))
  return dir
}

/** Counts `onChange` calls; `next()` resolves at the next one (rejects after `ms`). */
function counter (t: Test): { readonly calls: number, onChange: () => void, next: (ms?: number) => Promise<void> } {
  let calls = 0
  let waiters: Array<() => void> = []
  return {
    get calls () { return calls },
    onChange () {
      calls++
      const ready = waiters
      waiters = []
      for (const resolve of ready) resolve()
    },
    async next (ms = 2000) {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => { t.fail(`no onChange within ${ms} ms`); reject(new Error('timeout')) }, ms)
        waiters.push(() => { clearTimeout(timer); resolve() })
      })
    }
  }
}

/** The watch under test, closed at teardown; the poll is pushed out of the way unless given. */
function watchFor (t: Test, path: string, onChange: () => void, options: Parameters<typeof watchConfig>[2] = {}): ReturnType<typeof watchConfig> {
  const watch = watchConfig(path, onChange, { pollMs: 60_000, ...options })
  t.teardown(() => watch.close())
  return watch
}

t.test('an in-place write wakes it once, after the burst settles', async (t) => {
  const dir = await tempDir(t)
  const path = join(dir, 'config.yml')
  await writeFile(path, 'a: 1\n')
  const seen = counter(t)
  watchFor(t, path, seen.onChange, { debounceMs: 150 })
  const started = Date.now()
  // Ten writes 20 ms apart: one burst, as an editor's save or a slow copy makes.
  for (let i = 0; i < 10; i++) {
    await writeFile(path, `a: ${i}\n`)
    await sleep(20)
  }
  await seen.next()
  t.ok(Date.now() - started >= 150 + 9 * 20, 'not before the burst has been quiet for debounceMs')
  await sleep(400)
  t.equal(seen.calls, 1, 'the burst is one call')
})

t.test('atomic renames over the file: seen each time (a watch on the file would go deaf after the first)', async (t) => {
  const dir = await tempDir(t)
  const path = join(dir, 'config.yml')
  await writeFile(path, 'a: 0\n')
  const seen = counter(t)
  watchFor(t, path, seen.onChange, { debounceMs: 50 })
  for (let i = 1; i <= 3; i++) {
    const next = seen.next()
    await writeFile(join(dir, `.config.yml.${i}`), `a: ${i}\n`)
    await rename(join(dir, `.config.yml.${i}`), path)
    await next
    t.equal(seen.calls, i, `rename ${i} seen`)
  }
})

t.test('Kubernetes ConfigMap updates: only ..data and ..<timestamp> change, never config.yml', async (t) => {
  const dir = await tempDir(t)
  const first = '..2026_11_26_10_00_00.000000000'
  await mkdir(join(dir, first))
  await writeFile(join(dir, first, 'config.yml'), 'a: 0\n')
  await symlink(first, join(dir, '..data'))
  await symlink(join('..data', 'config.yml'), join(dir, 'config.yml'))
  const seen = counter(t)
  watchFor(t, join(dir, 'config.yml'), seen.onChange, { debounceMs: 50 })

  // What kubelet's atomic writer does: a new timestamped dir, a `..data_tmp` link to
  // it renamed over `..data`, then the old dir removed. config.yml itself is untouched.
  // Twice: a watch on the file's target would hear the first swap and then nothing.
  let old = first
  for (let i = 1; i <= 2; i++) {
    const version = `..2026_11_26_10_0${i}_00.00000000${i}`
    const next = seen.next()
    await mkdir(join(dir, version))
    await writeFile(join(dir, version, 'config.yml'), `a: ${i}\n`)
    await symlink(version, join(dir, '..data_tmp'))
    await rename(join(dir, '..data_tmp'), join(dir, '..data'))
    await rm(join(dir, old), { recursive: true })
    old = version
    await next
    await sleep(150)
    t.equal(seen.calls, i, `swap ${i} is one call`)
  }
})

t.test('touching the file wakes it too: deduping unchanged content is the receiver\'s job', async (t) => {
  const dir = await tempDir(t)
  const path = join(dir, 'config.yml')
  await writeFile(path, 'a: 1\n')
  const seen = counter(t)
  watchFor(t, path, seen.onChange, { debounceMs: 50 })
  const next = seen.next()
  const now = new Date()
  await utimes(path, now, now)
  await next
  t.equal(seen.calls, 1)
})

t.test('the periodic poll calls it with no event at all', async (t) => {
  const dir = await tempDir(t)
  const path = join(dir, 'config.yml')
  await writeFile(path, 'a: 1\n')
  const seen = counter(t)
  watchFor(t, path, seen.onChange, { debounceMs: 50, pollMs: 150 })
  await sleep(700)
  t.ok(seen.calls >= 3 && seen.calls <= 5, `about one call per 150 ms (${seen.calls} in 700 ms)`)
})

t.test('a directory that cannot be watched: onError, and the poll still runs', async (t) => {
  const dir = await tempDir(t)
  const path = join(dir, 'missing', 'config.yml')
  const errors: unknown[] = []
  const seen = counter(t)
  watchFor(t, path, seen.onChange, { pollMs: 100, onError: (error) => errors.push(error) })
  t.equal(errors.length, 1, 'told once')
  t.match(errors[0], { code: 'ENOENT' })
  await seen.next(1000)
  await seen.next(1000)
})

t.test('the watched directory removed and made again: no crash, and the poll still runs', async (t) => {
  // inotify reports the directory's own removal as an event, not an error, and the
  // watch stays on the dead inode: from then on only the poll sees the file.
  const dir = await tempDir(t)
  const sub = join(dir, 'conf')
  await mkdir(sub)
  await writeFile(join(sub, 'config.yml'), 'a: 1\n')
  const seen = counter(t)
  watchFor(t, join(sub, 'config.yml'), seen.onChange, { debounceMs: 50, pollMs: 300 })
  await unlink(join(sub, 'config.yml'))
  await rm(sub, { recursive: true })
  await mkdir(sub)
  await writeFile(join(sub, 'config.yml'), 'a: 2\n')
  await seen.next()
  const before = seen.calls
  await seen.next(1000)
  t.ok(seen.calls > before, 'the poll goes on')
})

t.test('close stops the watch, a pending debounce and the poll', async (t) => {
  const dir = await tempDir(t)
  const path = join(dir, 'config.yml')
  await writeFile(path, 'a: 1\n')
  const seen = counter(t)
  const watch = watchFor(t, path, seen.onChange, { debounceMs: 100, pollMs: 100 })
  await writeFile(path, 'a: 2\n')
  await sleep(20)
  watch.close()
  await writeFile(path, 'a: 3\n')
  await sleep(400)
  t.equal(seen.calls, 0, 'nothing after close')
})

t.test('the defaults: 200 ms debounce', async (t) => {
  const dir = await tempDir(t)
  const path = join(dir, 'config.yml')
  await writeFile(path, 'a: 1\n')
  const seen = counter(t)
  const watch = watchConfig(path, seen.onChange)
  t.teardown(() => watch.close())
  const next = seen.next()
  const started = Date.now()
  await writeFile(path, 'a: 2\n')
  await next
  const waited = Date.now() - started
  t.ok(waited >= 190 && waited < 1500, `called ${waited} ms after the write`)
})

t.test('a file written every 50 ms beside it does not hold a real change back (issue 9, finding 6)', async (t) => {
  const dir = await tempDir(t)
  const path = join(dir, 'config.yml')
  await writeFile(path, 'a: 1\n')
  const seen = counter(t)
  // The defaults: 200 ms debounce, 1 s cap.
  watchFor(t, path, seen.onChange)
  let writing = true
  const writer = (async () => {
    for (let i = 0; writing; i++) {
      await writeFile(join(dir, 'app.log'), `line ${i}\n`)
      await sleep(50)
    }
  })()
  t.teardown(async () => { writing = false; await writer })
  await sleep(1500)
  const before = seen.calls
  const started = Date.now()
  await writeFile(path, 'a: 2\n')
  await seen.next(3000)
  const took = Date.now() - started
  t.ok(took <= 1200, `the change was seen after ${took} ms, with the writer still going`)
  t.ok(before >= 1, `the busy directory still wakes it, capped: ${before} calls in 1.5 s`)
  t.ok(before <= 3, 'at most about one call a second, not one per write')
})
