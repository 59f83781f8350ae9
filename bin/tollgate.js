#!/usr/bin/env node
'use strict'
// Runs the compiled CLI (`npm run build`, also run by `npm install` through `prepare`).
require('../dist/cli.js').main(process.argv.slice(2)).catch((error) => {
  process.stderr.write(`tollgate: ${error instanceof Error ? error.message : String(error)}\n`)
  process.exitCode = 1
})
