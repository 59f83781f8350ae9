import t from 'tap'
import { parseConfig } from '../../src/config'

/*
 * What the fuzz tests of issue 13 found, each pinned by the case that showed it.
 */

t.test('a plan or rls domain named with digits only is named one way in every error (plans[9], never also plans.9)', async (t) => {
  // Found by "a random value at a known key" (seed -1883006072): `routes[0].plans: { "0": false }`
  // gave the schema's `routes[0].plans[0]: ...` beside the cross-check's `routes[0].plans.0: ...`.
  const result = parseConfig([
    'plans:',
    '  free: [ { max: 5, per: 1s } ]',
    'routes:',
    '  - { match: "GET /x", plans: { "9": [ { max: 0, per: 1s } ] } }',
    'rls:',
    '  domains:',
    '    "7":',
    '      - { name: a, match: [ { key: api_key } ] }',
    '      - { name: a, match: [ { key: api_key } ] }',
    ''
  ].join('\n'), {}, 'test.yml')
  t.notOk(result.ok)
  const errors = result.ok ? [] : result.errors
  t.same(errors.filter((e) => /plans(\.|\[)9/.test(e)), [
    'routes[0].plans[9][0].max: 0 must be at least 1',
    'routes[0].plans[9]: "9" is not a plan in plans'
  ])
  t.same(errors.filter((e) => /domains(\.|\[)7/.test(e)), [
    'rls.domains[7][1].name: "a" is used by another rule of 7',
    'rls.domains[7][1].match: the same as rls.domains[7][0].match, which always applies first'
  ])
})
