'use strict'
// neostandard (the style fastify and fastify-rate-limit use) with its TypeScript settings.
module.exports = [
  ...require('neostandard')({
    ts: true,
    ignores: ['dist/**', 'node_modules/**', '.tap/**', 'coverage/**']
  }),
  {
    rules: {
      // `void promise()` marks a promise deliberately not awaited (an event handler).
      'no-void': ['error', { allowAsStatement: true }],
      // Loops that wait on a flag set by a callback across an `await` are its false positives.
      'no-unmodified-loop-condition': 'off',
      // A `let` read by a closure before its one assignment (a forward reference) stays `let`.
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }]
    }
  },
  {
    // Small files with one job, functions a reader holds in one screen (docs/architecture.md).
    files: ['src/**', 'bench/**', 'scripts/**', 'bin/**'],
    rules: {
      'max-lines': ['error', { max: 250 }],
      'max-lines-per-function': ['error', { max: 60 }]
    }
  },
  {
    // Tests write config.yml text, where `${ENV}` is the config's own syntax.
    files: ['test/**'],
    rules: { 'no-template-curly-in-string': 'off', 'max-lines': ['error', { max: 250 }] }
  }
]
