'use strict'
// The `.ts` loader of tollgate's children (run-ts.js) and of tap's test processes
// (ts-import.mjs). Each .ts file is transpiled alone (transpile-only: type errors are
// tsc's job), with the compiler options of tsconfig.json, and the result is kept on disk
// by a hash of everything that went into it. A suite starts a hundred children and a
// hundred and sixty test processes on the same sources: loading typescript and
// transpiling them took a second or more of CPU per process, a cached start reads files,
// and typescript is loaded only when some file changed.
const { createHash } = require('node:crypto')
const { mkdirSync, readFileSync, renameSync, writeFileSync } = require('node:fs')
const { tmpdir } = require('node:os')
const path = require('node:path')

const root = path.resolve(__dirname, '..', '..')
const tsconfigPath = path.join(root, 'tsconfig.json')
const typescriptPkg = require.resolve('typescript/package.json', { paths: [root] })
const CACHE_DIR = path.join(tmpdir(), 'tollgate-run-ts')

// What the output depends on besides the file itself: this transpiler, its options, typescript's version.
const salt = createHash('sha256')
  .update(readFileSync(__filename))
  .update(readFileSync(tsconfigPath))
  .update(readFileSync(typescriptPkg))
  .digest('hex')

let compilerOptions
/** tsconfig.json's options, with the source map inline so stack traces name .ts lines. Loads typescript: only on a miss. */
function transpile (source, filename) {
  const ts = require(path.dirname(typescriptPkg))
  if (compilerOptions === undefined) {
    const { config } = ts.readConfigFile(tsconfigPath, ts.sys.readFile)
    // Without outDir and rootDir the map's `sources` name the .ts file beside the output, which is where it is.
    const { outDir, rootDir, ...options } = ts.parseJsonConfigFileContent(config, ts.sys, root).options
    compilerOptions = {
      ...options,
      sourceMap: false,
      inlineSourceMap: true,
      inlineSources: true,
      declaration: false,
      noEmit: false
    }
  }
  return ts.transpileModule(source, { compilerOptions, fileName: filename }).outputText
}

function cached (source, filename) {
  const key = createHash('sha256').update(salt).update(filename).update('\0').update(source).digest('hex')
  const file = path.join(CACHE_DIR, `${key}.js`)
  try {
    return readFileSync(file, 'utf8')
  } catch {
    const output = transpile(source, filename)
    mkdirSync(CACHE_DIR, { recursive: true })
    // Children start in parallel: each writes its own temp file and renames it into place whole.
    const temp = `${file}.${process.pid}.tmp`
    writeFileSync(temp, output)
    renameSync(temp, file)
    return output
  }
}

/** Every `.ts` this process requires from now on is the cached transpile of it. */
function install () {
  process.setSourceMapsEnabled(true)
  // The CJS loader's hook for an extension, as ts-node's register does it; Node has no other for CJS.
  // eslint-disable-next-line n/no-deprecated-api
  require.extensions['.ts'] = (module, filename) => {
    module._compile(cached(readFileSync(filename, 'utf8'), filename), filename)
  }
}

module.exports = { install }
