#!/usr/bin/env node
'use strict'
// `npm start` and `prepare` used to run tsc every time (~7 s before the first answer,
// and `npx tollgate` in this repo re-runs `prepare`). This builds dist/ only when it is
// missing or older than an input: a source file, a folder (a file deleted or renamed
// changes its folder), the tsconfigs or package.json. `npm run build` (plain tsc, as
// the Dockerfile runs it) always builds, and leaves the stamp alone: the next start
// then builds once more, which is slow but never wrong.
//
// The stamp is written only after tsc succeeded, so a failed build is retried on the
// next start instead of leaving a half-built dist/ that looks fresh.
const { spawnSync } = require('node:child_process')
const { readdirSync, statSync, writeFileSync } = require('node:fs')
const { join } = require('node:path')

const STAMP = join('dist', '.build-stamp')
const INPUT_FILES = ['tsconfig.json', 'tsconfig.build.json', 'package.json']
const INPUT_DIRS = ['src']

/** mtime in ms, or undefined when the path does not exist. */
function mtimeOf (path) {
  try {
    return statSync(path).mtimeMs
  } catch (error) {
    if (error.code === 'ENOENT') return undefined
    throw error
  }
}

/** The newest mtime under `dir`, the folders themselves included. */
function newestUnder (dir) {
  let newest = mtimeOf(dir) ?? 0
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    newest = Math.max(newest, entry.isDirectory() ? newestUnder(path) : (mtimeOf(path) ?? 0))
  }
  return newest
}

/** Why `root` needs a build, or undefined when dist/ is up to date. */
function staleReason (root) {
  const built = mtimeOf(join(root, STAMP))
  if (built === undefined) return 'dist/ has not been built'
  for (const file of INPUT_FILES) {
    if ((mtimeOf(join(root, file)) ?? 0) > built) return `${file} is newer than dist/`
  }
  for (const dir of INPUT_DIRS) {
    if (mtimeOf(join(root, dir)) !== undefined && newestUnder(join(root, dir)) > built) return `${dir}/ is newer than dist/`
  }
  return undefined
}

/** Runs tsc in `root`; returns its exit code. */
function build (root) {
  const tsc = require.resolve('typescript/bin/tsc', { paths: [root] })
  const result = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' })
  if (result.status !== 0) return result.status ?? 1
  writeFileSync(join(root, STAMP), `${new Date().toISOString()}\n`)
  return 0
}

function main () {
  const root = process.cwd()
  const reason = staleReason(root)
  if (reason === undefined) {
    process.stderr.write('build: dist/ is up to date\n')
    return 0
  }
  process.stderr.write(`build: ${reason}; running tsc\n`)
  return build(root)
}

module.exports = { staleReason }

if (require.main === module) process.exitCode = main()
