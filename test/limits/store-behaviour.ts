import type { Test } from 'tap'
import { countBehaviour, requestBehaviour } from './store-behaviour-counts'
import { groupBehaviour, groupEdgeBehaviour } from './store-behaviour-groups'
import { refillBehaviour, slidingBehaviour } from './store-behaviour-time'
import { windowBehaviour } from './store-behaviour-windows'
import type { Harness } from './store-harness'

/**
 * What every LimitStore must do, run against each store by its own test file
 * (store-memory, store-redis, redis-cluster) with its own harness (store-harness.ts).
 * The suites are in store-behaviour-*.ts, by topic.
 */
export function storeBehaviour (t: Test, h: Harness): void {
  countBehaviour(t, h)
  windowBehaviour(t, h)
  refillBehaviour(t, h)
  slidingBehaviour(t, h)
  requestBehaviour(t, h)
  groupBehaviour(t, h)
  groupEdgeBehaviour(t, h)
}
