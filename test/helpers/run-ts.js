'use strict'
// `node run-ts.js ENTRY.ts ...args` runs a TypeScript entry point as the main module of
// a tollgate child process.
//
// The .ts files are transpiled through ts-cache.js.
//
// Why a .js main instead of `node --require <register> ENTRY.ts`: children inherit
// tap's NODE_OPTIONS (`--import` of @tapjs/processinfo, which is what puts code run in
// children into the coverage report), and with any `--import` Node 20 loads the main
// file through the ESM loader, which rejects `.ts`. Loading the entry through the CJS
// loader, flagged as main, keeps both coverage and `require.main === module`.
const Module = require('node:module')
const path = require('node:path')
require('./ts-cache').install()

// Drop this file from argv, so the entry sees `node ENTRY.ts ...args` as if run directly.
process.argv.splice(1, 1)
process.argv[1] = path.resolve(process.argv[1])
Module._load(process.argv[1], null, true)
