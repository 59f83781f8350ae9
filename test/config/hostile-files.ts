// Files that once made the YAML parser or the loader throw (finding 4 of issue 9), shared
// by the live reload test and the check-config test.

/** Nine levels of nine aliases: 9^9 nodes once expanded. */
export function aliasBomb (): string {
  const names = 'abcdefghi'
  let text = `a: &a [${Array(9).fill('"lol"').join(', ')}]\n`
  for (let i = 1; i < names.length; i++) {
    text += `${names[i] ?? ''}: &${names[i] ?? ''} [${Array(9).fill(`*${names[i - 1] ?? ''}`).join(', ')}]\n`
  }
  return text
}

/** A valid config padded with a comment past 1 MiB. */
export const oversized = (config: string): string => `${config}#${'x'.repeat(1024 * 1024)}\n`

/** A value nested `levels` deep under the key `shadow`. */
export const nested = (config: string, levels: number): string => `${config}shadow: ${'['.repeat(levels)}${']'.repeat(levels)}\n`
