import { createHash } from 'node:crypto'
import { Readable } from 'node:stream'
import t from 'tap'
import { hashKey } from '../src/hash-key'
import { runCli } from './helpers/run-cli'

// `tollgate hash-key` with the key on stdin, so that it shows neither in `ps` nor in
// the shell history: the real CLI with a real pipe, and the cases in process.

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex')
const KEY = 'sk_live_stdin-K3y!&~'

async function run (input: string, tty = false): Promise<{ code: number, out: string, err: string }> {
  const stdin = Object.assign(Readable.from([input]), { isTTY: tty })
  let out = ''
  let err = ''
  const code = await hashKey(undefined, { stdin, out: (text) => { out += text }, err: (text) => { err += text } })
  return { code, out, err }
}

t.test('the real CLI reads the key from a pipe', async (t) => {
  const piped = await runCli(['hash-key'], { input: `${KEY}\n` })
  t.equal(piped.code, 0, piped.stderr)
  t.equal(piped.stdout, `${sha256(KEY)}\n`, 'the digest of the key without its newline')
  t.equal(piped.stderr, '')
  const empty = await runCli(['hash-key'], { input: '' })
  t.equal(empty.code, 2, 'an empty pipe is refused')
  t.equal(empty.stdout, '')
  t.match(empty.stderr, /the key is empty/)
})

t.test('one line, its line ending stripped', async (t) => {
  for (const input of [KEY, `${KEY}\n`, `${KEY}\r\n`]) {
    const result = await run(input)
    t.equal(result.code, 0)
    t.equal(result.out, `${sha256(KEY)}\n`, JSON.stringify(input.replace(KEY, 'KEY')))
  }
  const tty = await run(`${KEY}\nwhat follows is not read\n`, true)
  t.equal(tty.out, `${sha256(KEY)}\n`, 'from a terminal the first line is the key')
  t.match(tty.err, /^key, then Enter: $/, 'with a prompt on stderr')
})

t.test('an empty key, several lines or a malformed key: exit 2, nothing echoed', async (t) => {
  const cases: Array<[string, string, RegExp]> = [
    ['empty', '', /the key is empty/],
    ['a newline only', '\n', /the key is empty/],
    ['two lines', `${KEY}\nsecond-key\n`, /one key on one line/],
    ['a space', 'two words\n', /visible ASCII/],
    ['a comma', 'a,b\n', /no comma/],
    ['too long', `${'k'.repeat(5000)}\n`, /one key on one line/]
  ]
  for (const [name, input, message] of cases) {
    const result = await run(input)
    t.equal(result.code, 2, `${name}: exit 2`)
    t.equal(result.out, '', `${name}: no digest`)
    t.match(result.err, message, name)
    t.notOk(result.err.includes(KEY) || result.err.includes('second-key') || result.err.includes('words'), `${name}: the input is not echoed`)
  }
})
