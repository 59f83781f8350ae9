'use strict'
// `node run-ts.js ENTRY.ts ...args` runs a TypeScript entry point as the main module of
// a tollgate child process.
//
// Each .ts file is transpiled alone (transpile-only: type errors are tsc's job), with
// the compiler options of tsconfig.json and the typescript that tap's ts-node uses,
// and the result is kept on disk by a hash of everything that went into it. A suite
// starts a hundred children on the same sources: loading typescript and transpiling
// them all took 3-5 s of CPU per child, a cached start takes a fraction of a second,
// and typescript is loaded only when some file changed.
//
// Why a .js main instead of `node --require <register> ENTRY.ts`: children inherit
// tap's NODE_OPTIONS (`--import` of @tapjs/processinfo, which is what puts code run in
// children into the coverage report), and with any `--import` Node 20 loads the main
// file through the ESM loader, which rejects `.ts`. Loading the entry through the CJS
// loader, flagged as main, keeps both coverage and `require.main === module`.
const { createHash } = require('node:crypto')
const { mkdirSync, readFileSync, renameSync, writeFileSync } = require('node:fs')
const Module = require('node:module')
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

process.setSourceMapsEnabled(true)
// The CJS loader's hook for an extension, as ts-node's register does it; Node has no other for CJS.
// eslint-disable-next-line n/no-deprecated-api
require.extensions['.ts'] = (module, filename) => {
  module._compile(cached(readFileSync(filename, 'utf8'), filename), filename)
}

// Drop this file from argv, so the entry sees `node ENTRY.ts ...args` as if run directly.
process.argv.splice(1, 1)
process.argv[1] = path.resolve(process.argv[1])
Module._load(process.argv[1], null, true)
