'use strict'
// `node run-ts.js ENTRY.ts ...args` runs a TypeScript entry point as the main module of
// a tollgate child process.
//
// It uses the ts-node that tap itself runs the tests with (tap → @tapjs/typescript → a
// ts-node fork), found through that chain rather than at its hoisted location, so the
// children compile exactly like the tests and no extra package is needed.
// Transpile-only: type errors are tsc's job, and checking would add seconds per child.
//
// Why a .js main instead of `node --require <register> ENTRY.ts`: children inherit
// tap's NODE_OPTIONS (`--import` of @tapjs/processinfo, which is what puts code run in
// children into the coverage report), and with any `--import` Node 20 loads the main
// file through the ESM loader, which rejects `.ts`. Loading the entry through the CJS
// loader, flagged as main, keeps both coverage and `require.main === module`.
const Module = require('node:module')
const path = require('node:path')

const root = path.resolve(__dirname, '..', '..')

function resolveFrom (id, fromPackageJson) {
  return require.resolve(id, { paths: [path.dirname(fromPackageJson)] })
}

const tapPkg = require.resolve('tap/package.json', { paths: [root] })
const tapTypescriptPkg = resolveFrom('@tapjs/typescript/package.json', tapPkg)
const tsNode = resolveFrom('@isaacs/ts-node-temp-fork-for-pr-2009', tapTypescriptPkg)

require(tsNode).register({
  transpileOnly: true,
  project: path.join(root, 'tsconfig.json')
})

// Drop this file from argv, so the entry sees `node ENTRY.ts ...args` as if run directly.
process.argv.splice(1, 1)
process.argv[1] = path.resolve(process.argv[1])
Module._load(process.argv[1], null, true)
