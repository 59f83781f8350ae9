import { createCipheriv, createHash } from 'node:crypto'
import { Readable } from 'node:stream'

const CHUNK_BYTES = 64 * 1024
// AES-CTR over zeros is a seeded generator that runs at memory speed in native code,
// so a 50 MB body costs ~50 ms to make and never needs to sit in memory whole.
const KEY = Buffer.alloc(16, 7)
const IV = Buffer.alloc(16, 0)
const ZEROS = Buffer.alloc(CHUNK_BYTES)

/**
 * The same `n` pseudo-random bytes on every call, in 64 KiB chunks; a shorter stream
 * is a prefix of a longer one. Use it for big request bodies, and compare hashes.
 */
export function pseudoRandomStream (n: number): Readable {
  return Readable.from(chunks(n), { objectMode: false })
}

const sha256Cache = new Map<number, string>()

/** The hex sha256 of `pseudoRandomStream(n)`, computed by generating it once (cached). */
export function pseudoRandomSha256 (n: number): string {
  let digest = sha256Cache.get(n)
  if (digest === undefined) {
    const hash = createHash('sha256')
    for (const chunk of chunks(n)) hash.update(chunk)
    digest = hash.digest('hex')
    sha256Cache.set(n, digest)
  }
  return digest
}

function * chunks (n: number): Generator<Buffer> {
  const cipher = createCipheriv('aes-128-ctr', KEY, IV)
  for (let left = n; left > 0; left -= CHUNK_BYTES) {
    yield cipher.update(left >= CHUNK_BYTES ? ZEROS : ZEROS.subarray(0, left))
  }
}
