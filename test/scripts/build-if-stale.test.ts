import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { REPO_ROOT } from '../helpers/spawn-ts'

// scripts/build-if-stale.js (prestart, prepare) on a small project of its own: real
// files, real mtimes, the real tsc.
const SCRIPT = join(REPO_ROOT, 'scripts', 'build-if-stale.js')
// Loaded the way npm runs it: plain CommonJS outside the TypeScript project.
const { staleReason } = require(SCRIPT) as { staleReason: (root: string) => string | undefined }

function project (t: Test): string {
  const root = mkdtempSync(join(tmpdir(), 'tollgate-build-'))
  t.teardown(() => { rmSync(root, { recursive: true, force: true }) })
  mkdirSync(join(root, 'src', 'sub'), { recursive: true })
  writeFileSync(join(root, 'src', 'cli.ts'), 'export const answer: number = 42\n')
  writeFileSync(join(root, 'src', 'sub', 'part.ts'), 'export const part = 1\n')
  writeFileSync(join(root, 'package.json'), '{ "name": "x", "private": true }\n')
  writeFileSync(join(root, 'tsconfig.json'), JSON.stringify({ compilerOptions: { module: 'commonjs', strict: true, types: [] } }))
  writeFileSync(join(root, 'tsconfig.build.json'), JSON.stringify({ extends: './tsconfig.json', compilerOptions: { rootDir: 'src', outDir: 'dist' }, include: ['src'] }))
  symlinkSync(join(REPO_ROOT, 'node_modules'), join(root, 'node_modules'))
  return root
}

function run (root: string): { status: number | null, stderr: string } {
  const result = spawnSync(process.execPath, [SCRIPT], { cwd: root, encoding: 'utf8' })
  return { status: result.status, stderr: result.stderr }
}

const INPUTS = ['src', 'src/cli.ts', 'src/sub', 'src/sub/part.ts', 'tsconfig.json', 'tsconfig.build.json', 'package.json']

/** Sets a path's mtime `seconds` from now: mtimes, not sleeps. */
function age (path: string, seconds: number): void {
  const when = new Date(Date.now() + seconds * 1000)
  utimesSync(path, when, when)
}

t.test('a fresh clone builds, the next start does not, a touched source builds again', async (t) => {
  const root = project(t)
  const first = run(root)
  t.equal(first.status, 0, first.stderr)
  t.match(first.stderr, /dist\/ has not been built; running tsc/)
  t.match(readFileSync(join(root, 'dist', 'cli.js'), 'utf8'), /answer = 42/)
  const builtAt = statSync(join(root, 'dist', 'cli.js')).mtimeMs

  const second = run(root)
  t.equal(second.status, 0)
  t.match(second.stderr, /dist\/ is up to date/)
  t.equal(statSync(join(root, 'dist', 'cli.js')).mtimeMs, builtAt, 'tsc did not run')

  writeFileSync(join(root, 'src', 'cli.ts'), 'export const answer: number = 43\n')
  age(join(root, 'src', 'cli.ts'), 5)
  const third = run(root)
  t.equal(third.status, 0)
  t.match(third.stderr, /src\/ is newer than dist\//)
  t.match(readFileSync(join(root, 'dist', 'cli.js'), 'utf8'), /answer = 43/)
})

t.test('every input counts: a nested source, a deleted file, the tsconfigs, package.json', async (t) => {
  const root = project(t)
  t.equal(run(root).status, 0)
  t.equal(staleReason(root), undefined)
  const stamp = join(root, 'dist', '.build-stamp')
  const cases: Array<[string, () => void, RegExp]> = [
    ['nested source', () => { age(join(root, 'src', 'sub', 'part.ts'), 10) }, /src\//],
    ['deleted file', () => { rmSync(join(root, 'src', 'sub', 'part.ts')); age(join(root, 'src', 'sub'), 10) }, /src\//],
    ['tsconfig.json', () => { age(join(root, 'tsconfig.json'), 10) }, /tsconfig\.json/],
    ['tsconfig.build.json', () => { age(join(root, 'tsconfig.build.json'), 10) }, /tsconfig\.build\.json/],
    ['package.json', () => { age(join(root, 'package.json'), 10) }, /package\.json/]
  ]
  for (const [name, change, reason] of cases) {
    age(stamp, 0)
    for (const path of INPUTS) if (existsSync(join(root, path))) age(join(root, path), -60)
    t.equal(staleReason(root), undefined, `${name}: fresh before the change`)
    change()
    t.match(staleReason(root), reason, name)
    age(stamp, 20)
  }
})

t.test('a failed build leaves no stamp, so the next start tries again', async (t) => {
  const root = project(t)
  writeFileSync(join(root, 'src', 'cli.ts'), 'export const answer: number = "not a number"\n')
  const failed = run(root)
  t.not(failed.status, 0, 'tsc failed')
  t.match(staleReason(root), /has not been built/)
})
