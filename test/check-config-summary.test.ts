import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { runCli } from './helpers/run-cli'

// Issue 9, finding 6: check-config's summary of a file with 1,000 keys was one line of
// every name. Now counts per plan, names only when few, no line past 100 columns.

const PLANS = 'plans:\n  free: [ { max: 5, per: 1s } ]\n  pro: [ { max: 100, per: 1s } ]\n'
const keys = (n: number): string => Array.from({ length: n }, (_, i) =>
  `  - { name: client-${String(i).padStart(4, '0')}, sha256: "${i.toString(16).padStart(64, '0')}", plan: ${i % 5 < 2 ? 'free' : 'pro'} }\n`).join('')

t.test('1,000 keys: counts per plan, no names, every line short', async (t) => {
  const file = join(t.testdir({}), 'many.yml')
  await writeFile(file, `${PLANS}keys:\n${keys(1000)}`)
  const result = await runCli(['check-config', file])
  t.equal(result.code, 0, result.stderr)
  t.match(result.stdout, /^ {2}keys: {5}1000 \(free 400, pro 600\)$/m)
  t.notMatch(result.stdout, 'client-', 'no key is named')
  const longest = Math.max(...result.stdout.split('\n').map((l) => l.length))
  t.ok(longest <= 100, `the longest line has ${longest} columns`)
  t.ok(result.stdout.split('\n').length < 20, 'a summary, not a listing')
})

t.test('20 keys: named, wrapped at 100 columns under their counts', async (t) => {
  const file = join(t.testdir({}), 'few.yml')
  await writeFile(file, `${PLANS}keys:\n${keys(20)}`)
  const result = await runCli(['check-config', file])
  t.equal(result.code, 0, result.stderr)
  const lines = result.stdout.split('\n')
  const head = lines.findIndex((l) => l === '  keys:     20 (free 8, pro 12)')
  t.ok(head >= 0, 'the counts')
  const names = lines.slice(head + 1).filter((l) => l.startsWith('    client-'))
  t.ok(names.length >= 2, `wrapped over ${names.length} lines`)
  t.ok(names.every((l) => l.length <= 100), 'each at most 100 columns')
  t.equal(names.join(' ').split(', ').length, 20, 'every key named once')
})
