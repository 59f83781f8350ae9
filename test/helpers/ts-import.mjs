// tap's test processes load their `.ts` files with this (`node-arg` in .taprc) instead of
// tap's ts-node plugin, which loaded typescript itself twice per process (its loader
// thread and the main one): 0.7 s of CPU per test file, before any test ran.
//
// The CJS side is ts-cache.js's `.ts` extension. The test file itself is the entry, and
// with any `--import` Node 20 loads an entry through the ESM loader, which knows no `.ts`:
// the hook below hands every `.ts` URL back as CommonJS without a source, so Node loads it
// with the CJS loader, through that extension, as it would a `require`.
import { createRequire, register } from 'node:module'

createRequire(import.meta.url)('./ts-cache.js').install()
register('./ts-hooks.mjs', import.meta.url)
