// The ESM loader hook of ts-import.mjs: a `.ts` file is CommonJS, loaded by the CJS loader.
export async function load (url, context, nextLoad) {
  if (url.startsWith('file:') && url.endsWith('.ts')) return { format: 'commonjs', shortCircuit: true }
  return await nextLoad(url, context)
}
