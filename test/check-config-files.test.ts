import { execFileSync } from 'node:child_process'
import { symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { loadConfigFile } from '../src/config'
import { runCli } from './helpers/run-cli'
import { aliasBomb, nested, oversized } from './config/hostile-files'

// Issue 9, finding 4, at check-config: every file the parser or the loader once threw on
// (or read wrongly) is exit 1 with one line that names the file, never a stack trace.
// The real CLI runs for the files of the finding (and the FIFO, which hung it); the rest
// go through loadConfigFile in process, the very function check-config, the start and
// every reload call: a CLI run costs seconds of a shared CPU.

/** The files check-config itself is run on. */
const THROUGH_CLI = new Set(['bomb.yml', 'big.yml', 'deep.yml', 'fifo.yml'])

const GOOD = 'plans:\n  free: [ { max: 5, per: 1s } ]\n'

async function check (file: string): Promise<{ code: number | null, stdout: string, stderr: string }> {
  return await runCli(['check-config', file])
}

t.test('each bad file: one error naming the file (exit 1 and nothing else on stderr, for check-config)', async (t) => {
  const dir = t.testdir({ 'dir.yml': {} })
  const files: Array<[string, string | Buffer | undefined, RegExp]> = [
    ['bomb.yml', aliasBomb(), /: too many aliases/],
    ['big.yml', oversized(GOOD), /: cannot read the file: it has \d+ bytes, more than the 1048576 allowed/],
    ['deep.yml', nested(GOOD, 5000), /:\d+:\d+: nested more than 32 levels deep \(or an alias inside its own anchor\)$/],
    ['deep40.yml', nested(GOOD, 40), /: nested more than 32 levels deep \(or an alias inside its own anchor\)$/],
    ['binary.yml', Buffer.concat([Buffer.from(GOOD), Buffer.from([0xff, 0xfe, 0x00, 0x9c])]), /: cannot read the file: it is not UTF-8 text/],
    ['tag.yml', `${GOOD}shadow: !!js/function "function () {}"\n`, /:3:9: the tag !!js\/function is not supported/],
    ['binary-tag.yml', `${GOOD}shadow: !!binary aGVsbG8=\n`, /: the tag !!binary is not supported/],
    ['key.yml', `${GOOD}? [a, b]\n: 1\n`, /:3:3: a key must be a plain name, not a list or a mapping/],
    ['alias.yml', `${GOOD}shadow: *nowhere\n`, /: Unresolved alias .*nowhere/],
    ['cycle.yml', `${GOOD}shadow: &s [*s]\n`, /: nested more than 32 levels deep \(or an alias inside its own anchor\)$/],
    ['merge-scalar.yml', `${GOOD}api_key: { <<: 5 }\n`, /: Merge sources must be maps/],
    ['dir.yml', undefined, /: cannot read the file: it is a directory$/],
    ['loop.yml', undefined, /: cannot read the file: too many levels of symbolic links/],
    ['fifo.yml', undefined, /: cannot read the file: it is not a regular file$/]
  ]
  await symlink(join(dir, 'loop.yml'), join(dir, 'loop2.yml'))
  await symlink(join(dir, 'loop2.yml'), join(dir, 'loop.yml'))
  execFileSync('mkfifo', [join(dir, 'fifo.yml')])
  for (const [name, content, expected] of files) {
    const file = join(dir, name)
    if (content !== undefined) await writeFile(file, content)
    if (!THROUGH_CLI.has(name)) {
      const loaded = await loadConfigFile(file, {})
      const errors = loaded.ok ? [] : loaded.errors
      t.equal(errors.length, 1, `${name}: one error`)
      t.ok(errors[0]?.startsWith(file), `${name}: the error names the file: ${errors[0] ?? ''}`)
      t.match(errors[0], expected, name)
      continue
    }
    const result = await check(file)
    t.equal(result.code, 1, `${name}: exit 1`)
    t.equal(result.stdout, '', `${name}: no summary`)
    const lines = result.stderr.trimEnd().split('\n')
    t.equal(lines[0], `${file}: 1 error(s)`, `${name}: one error`)
    t.ok(lines[1]?.startsWith(`  ${file}`), `${name}: the error names the file: ${lines[1] ?? ''}`)
    t.match(lines[1], expected, name)
    t.equal(lines.length, 2, `${name}: nothing else on stderr`)
  }
})

t.test('a BOM and YAML merge keys are read as the config they are', async (t) => {
  const dir = t.testdir({})
  const bom = join(dir, 'bom.yml')
  await writeFile(bom, `\uFEFF${GOOD}`)
  t.equal((await check(bom)).code, 0, 'a BOM is dropped')
  const merge = join(dir, 'merge.yml')
  await writeFile(merge, 'plans:\n  free: [ &w { max: 5, per: 1s } ]\n  pro: [ { <<: *w, max: 50 } ]\n')
  const result = await check(merge)
  t.equal(result.code, 0, result.stderr)
  t.match(result.stdout, /pro: 50\/1s gcra/, 'the merged window, with its own max')
})

t.test('at start: an alias bomb is exit 1 with the file named, not a stack trace', async (t) => {
  const file = join(t.testdir({}), 'config.yml')
  await writeFile(file, aliasBomb())
  const result = await runCli(['--config', file])
  t.equal(result.code, 1)
  t.equal(result.stderr, `tollgate: cannot start, ${file} has 1 error(s):\n  ${file}: too many aliases (more than 1000 nodes expanded through * references)\n`)
})
