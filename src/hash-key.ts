import type { Readable } from 'node:stream'
import { isWellFormedKey, sha256Hex } from './limits'

/** More than any key (256) plus a line ending: past it the input is not a key. */
const MAX_INPUT_BYTES = 4096

export interface HashKeyIo {
  /** Where the key comes from when it is not an argument: a pipe, a file or a terminal. */
  readonly stdin: Readable & { isTTY?: boolean }
  readonly out: (text: string) => void
  readonly err: (text: string) => void
}

/**
 * The key from stdin: one line, its line ending stripped. From a terminal the first
 * line is enough (no Ctrl-D); from a pipe the whole input must be that one line, so
 * that a file of several keys is refused instead of hashed as one.
 */
async function readKey (stdin: HashKeyIo['stdin']): Promise<string | undefined> {
  let text = ''
  for await (const chunk of stdin) {
    text += String(chunk)
    if (text.length > MAX_INPUT_BYTES) return undefined
    if (stdin.isTTY === true && text.includes('\n')) {
      text = text.slice(0, text.indexOf('\n') + 1)
      break
    }
  }
  const line = text.replace(/\r?\n$/, '')
  return line.includes('\n') ? undefined : line
}

/**
 * `tollgate hash-key [KEY]`: prints the sha256 for `keys[].sha256`. Without KEY it reads
 * the key from stdin, which is what the README recommends: an argument shows in `ps`
 * and in the shell history. Returns the exit code.
 */
export async function hashKey (argument: string | undefined, io: HashKeyIo): Promise<number> {
  if (argument === undefined && io.stdin.isTTY === true) io.err('key, then Enter: ')
  const key = argument ?? await readKey(io.stdin)
  if (key === undefined) {
    io.err('tollgate: hash-key reads one key on one line from stdin\n')
    return 2
  }
  if (key === '') {
    io.err('tollgate: the key is empty: a key is 1 to 256 visible ASCII characters\n')
    return 2
  }
  if (!isWellFormedKey(key)) {
    // Such a key could never match: requests carrying it get 400 malformed_api_key.
    io.err('tollgate: a key is 1 to 256 visible ASCII characters (no spaces, no comma)\n')
    return 2
  }
  io.out(sha256Hex(key) + '\n')
  return 0
}
