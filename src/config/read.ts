import { constants } from 'node:fs'
import { open, type FileHandle } from 'node:fs/promises'

/**
 * Reads a config file's text, or says in one line why it cannot: every reason names the
 * file. Only a regular file of at most MAX_CONFIG_BYTES of UTF-8 is read.
 */

/** 1 MiB: 1,000 keys with their sha256 take about 120 kB. Checked before anything is parsed. */
export const MAX_CONFIG_BYTES = 1024 * 1024

export type ReadResult = { ok: true, text: string } | { ok: false, error: string }

const REASONS: Readonly<Record<string, string>> = {
  ENOENT: 'no such file',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  ELOOP: 'too many levels of symbolic links (a symlink loop?)',
  ENOTDIR: 'a part of the path is not a directory',
  ENAMETOOLONG: 'the path is too long'
}

function reason (error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code
  return code === undefined ? String(error) : `${REASONS[code] ?? 'error'} (${code})`
}

async function readAtMost (handle: FileHandle, limit: number): Promise<Buffer> {
  // One byte more than allowed: a file that grew after its stat is still caught.
  const buffer = Buffer.alloc(limit + 1)
  let length = 0
  for (;;) {
    const { bytesRead } = await handle.read(buffer, length, buffer.length - length, length)
    if (bytesRead === 0 || length + bytesRead === buffer.length) return buffer.subarray(0, length + bytesRead)
    length += bytesRead
  }
}

export async function readConfigText (path: string): Promise<ReadResult> {
  const fail = (why: string): ReadResult => ({ ok: false, error: `${path}: cannot read the file: ${why}` })
  let handle: FileHandle
  try {
    // O_NONBLOCK: opening a named pipe would otherwise wait for a writer, forever.
    handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK)
  } catch (error) {
    return fail(reason(error))
  }
  try {
    const stat = await handle.stat()
    if (stat.isDirectory()) return fail('it is a directory')
    if (!stat.isFile()) return fail('it is not a regular file')
    if (stat.size > MAX_CONFIG_BYTES) return fail(`it has ${stat.size} bytes, more than the ${MAX_CONFIG_BYTES} allowed`)
    const bytes = await readAtMost(handle, MAX_CONFIG_BYTES)
    if (bytes.length > MAX_CONFIG_BYTES) return fail(`it has more than the ${MAX_CONFIG_BYTES} bytes allowed`)
    try {
      // fatal: a binary file is refused, not read with U+FFFD in place of its bytes. A BOM is dropped.
      return { ok: true, text: new TextDecoder('utf-8', { fatal: true }).decode(bytes) }
    } catch {
      return fail('it is not UTF-8 text')
    }
  } catch (error) {
    return fail(reason(error))
  } finally {
    await handle.close()
  }
}
