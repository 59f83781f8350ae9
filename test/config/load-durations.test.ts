import t from 'tap'
import { durationMs } from '../../src/config'
import { accepted, NOT_A_DURATION, PLANS, rejected } from './load-kit'

// Durations in parseConfig: the units, zero, and what is not a duration (load-kit.ts has the helpers).

t.test('durations', async (t) => {
  t.test('0s is accepted where zero makes sense', async (t) => {
    const config = accepted(t, `${PLANS}shutdown: { grace: 0s, drain_delay: 0s }\n`)
    t.equal(config.shutdown.grace, '0s')
    t.equal(config.shutdown.drain_delay, '0s')
  })
  for (const per of ['500ms', '30s', '5m', '1h', '1d']) {
    t.test(`${per} is accepted`, async (t) => {
      const config = accepted(t, `plans:\n  free: [ { max: 5, per: ${per} } ]\n`)
      t.equal(config.plans.free?.[0]?.per, per)
    })
  }

  t.test('durationMs converts every unit', async (t) => {
    t.equal(durationMs('0s'), 0)
    t.equal(durationMs('500ms'), 500)
    t.equal(durationMs('30s'), 30_000)
    t.equal(durationMs('5m'), 300_000)
    t.equal(durationMs('1h'), 3_600_000)
    t.equal(durationMs('1d'), 86_400_000)
  })

  for (const [written, shown] of [['1x', '"1x"'], ['"10"', '"10"'], ['-1s', '"-1s"'], ['1.5s', '"1.5s"'], ['10', '10'], ['1.5', '1.5'], ['" 1s"', '" 1s"']]) {
    t.test(`${written} is not a duration`, async (t) => {
      t.strictSame(rejected(t, `plans:\n  free: [ { max: 5, per: ${written} } ]\n`), [`plans.free[0].per: ${shown} ${NOT_A_DURATION}`])
    })
  }

  t.test('a window of zero is refused, in plans and in route plans', async (t) => {
    t.strictSame(rejected(t, `plans:
  free: [ { max: 5, per: 1s }, { max: 5, per: 0s } ]
routes:
  - { match: "POST /x", plans: { free: [ { max: 1, per: 0ms } ] } }
`), [
      'plans.free[1].per: "0s" must be at least 1ms',
      'routes[0].plans.free[0].per: "0ms" must be at least 1ms'
    ])
  })
})
