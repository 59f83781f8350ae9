import t from 'tap'
import { parseConfig } from '../../src/config'
import { PLANS, rejected, SOURCE } from './load-kit'

// parseConfig on the file as a whole: empty, not YAML, not a mapping, duplicate keys,
// and the hash of its text (load-kit.ts has the helpers).

t.test('an empty or comment-only file is an error, never "no keys"', async (t) => {
  for (const text of ['', '\n\n', '# nothing here yet\n', '---\n', '   \n# a\n']) {
    t.strictSame(rejected(t, text), [`${SOURCE}: the file is empty`], JSON.stringify(text))
  }
})

t.test('the source names the file in file-level errors', async (t) => {
  t.strictSame(parseConfig('', {}, '/etc/tollgate/config.yml'), { ok: false, errors: ['/etc/tollgate/config.yml: the file is empty'] })
  t.strictSame(parseConfig('', {}), { ok: false, errors: ['config.yml: the file is empty'] }, 'config.yml by default')
})

t.test('invalid YAML gives file:line:col', async (t) => {
  t.strictSame(rejected(t, 'plans:\n\tfree: []\n'), [`${SOURCE}:2:1: Tabs are not allowed as indentation`])
  const unclosed = rejected(t, 'plans:\n  free: [ { max: 5, per: 1s }\n')
  t.equal(unclosed.length, 1)
  t.match(unclosed[0], /^test\.yml:3:1: \S/)
  t.notMatch(unclosed[0], /\n/, 'one line, without the source excerpt')
})

t.test('the top level must be a mapping', async (t) => {
  t.strictSame(rejected(t, '- plans\n- keys\n'), [`${SOURCE}: must be a mapping of settings, got a list`])
  t.strictSame(rejected(t, 'plans\n'), [`${SOURCE}: must be a mapping of settings, got string`])
  t.strictSame(rejected(t, '42\n'), [`${SOURCE}: must be a mapping of settings, got number`])
})

t.test('duplicate YAML keys are errors', async (t) => {
  t.strictSame(rejected(t, `${PLANS}shadow: true\nshadow: false\n`), [`${SOURCE}:4:1: Map keys must be unique`])
  t.strictSame(rejected(t, `${PLANS}  free: [ { max: 1, per: 1s } ]\n`), [`${SOURCE}:3:3: Map keys must be unique`])
})

t.test('the hash', async (t) => {
  const hashOf = (text: string, source = SOURCE): string => {
    const result = parseConfig(text, {}, source)
    if (!result.ok) throw new Error(result.errors.join('\n'))
    return result.hash
  }
  const first = hashOf(PLANS)
  t.match(first, /^[0-9a-f]{12}$/)
  t.equal(hashOf(PLANS), first, 'same text, same hash')
  t.equal(hashOf(PLANS, 'elsewhere.yml'), first, 'the file name does not matter')
  t.not(hashOf('plans:\n  free: [ { max: 6, per: 1s } ]\n'), first, 'another limit')
  t.not(hashOf(`${PLANS}# a comment\n`), first, 'any change to the text')
})
