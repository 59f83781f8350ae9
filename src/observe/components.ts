import { monitorEventLoopDelay } from 'node:perf_hooks'
import { getHeapStatistics } from 'node:v8'
import type { AppliedReloadResult } from '../config'
import type { Component, Observation } from './health'

/**
 * The components `/health/*` reports, each built from what it needs to look at. Which
 * are required (fail → not ready) is decided here, as the README's Health section says: the upstream always,
 * Redis only under `on_redis_error: deny`, the shutdown state always.
 */

/** Event-loop delay p99 above this is a warning: requests queue behind the loop. */
export const EVENT_LOOP_WARN_MS = 200
/** Heap use above this share of V8's limit is a warning: the process is near OOM. */
export const HEAP_WARN_RATIO = 0.9

/**
 * `redis`: the connection in force now (a reload may add, change or drop it), with its
 * topology beside the round trip. A cluster that answers but is not `ok` fails: some
 * slots, and so some clients, have no primary.
 */
export function redisComponent (redis: () => { ping: () => Promise<{ readonly topology: string, readonly state?: string }> } | undefined, required: () => boolean): Component {
  return {
    key: 'redis:responseTime',
    required,
    async check (): Promise<Observation> {
      const client = redis()
      if (client === undefined) return { status: 'pass', observedValue: 'embedded memory store (one replica only)' }
      const started = performance.now()
      const topology = await client.ping()
      const observedValue = { ...topology, roundTripMs: Math.round((performance.now() - started) * 100) / 100 }
      return topology.state === undefined || topology.state === 'ok'
        ? { status: 'pass', observedValue }
        : { status: 'fail', observedValue, output: `the redis cluster is ${topology.state}` }
    }
  }
}

export function upstreamComponent (probe: (() => Promise<{ ok: boolean, detail: string }>) | undefined): Component {
  return {
    key: 'upstream:responseTime',
    required: () => probe !== undefined,
    async check (): Promise<Observation> {
      if (probe === undefined) return { status: 'pass', observedValue: 'no upstream: decision API only' }
      const result = await probe()
      return result.ok
        ? { status: 'pass', observedValue: result.detail }
        : { status: 'fail', observedValue: result.detail, output: `the upstream does not answer: ${result.detail}` }
    }
  }
}

export interface ConfigState {
  readonly hash: string
  readonly loadedAt: Date
  readonly lastReload?: { readonly ok: boolean, readonly at: Date, readonly errors?: readonly string[] }
}

export function configComponent (state: () => ConfigState): Component {
  return {
    key: 'config:reload',
    required: () => true,
    async check (): Promise<Observation> {
      const { hash, loadedAt, lastReload } = state()
      const last: AppliedReloadResult | 'none' = lastReload === undefined ? 'none' : (lastReload.ok ? 'success' : 'failure')
      const observedValue = {
        hash,
        loadedAt: loadedAt.toISOString(),
        lastReload: last,
        ...(lastReload?.errors === undefined ? {} : { errors: lastReload.errors })
      }
      if (lastReload?.ok === false) {
        return { status: 'warn', observedValue, output: `the last reload was rejected; config ${hash} still serves` }
      }
      return { status: 'pass', observedValue }
    }
  }
}

/** Event-loop delay since the previous check; the histogram is reset at each read. */
export function eventLoopComponent (): Component {
  const delay = monitorEventLoopDelay({ resolution: 20 })
  delay.enable()
  return {
    key: 'eventloop:delay',
    required: () => false,
    async check (): Promise<Observation> {
      const p99 = Math.round(delay.percentile(99) / 1e4) / 100
      delay.reset()
      return p99 > EVENT_LOOP_WARN_MS
        ? { status: 'warn', observedValue: p99, observedUnit: 'ms', output: `event loop delay p99 ${p99} ms` }
        : { status: 'pass', observedValue: p99, observedUnit: 'ms' }
    }
  }
}

export function memoryComponent (memory: () => NodeJS.MemoryUsage): Component {
  return {
    key: 'memory:utilization',
    required: () => false,
    async check (): Promise<Observation> {
      const { rss, heapUsed } = memory()
      const ratio = heapUsed / getHeapStatistics().heap_size_limit
      const observedValue = { rssBytes: rss, heapUsedBytes: heapUsed, heapUsedRatio: Math.round(ratio * 1000) / 1000 }
      return ratio > HEAP_WARN_RATIO
        ? { status: 'warn', observedValue, output: `heap ${Math.round(ratio * 100)}% of its limit` }
        : { status: 'pass', observedValue }
    }
  }
}

/** Checked on every probe, never cached: SIGTERM must turn readiness red at once. */
export function shutdownComponent (shuttingDown: () => boolean): Component {
  return {
    key: 'shutdown:state',
    required: () => true,
    live: true,
    async check (): Promise<Observation> {
      return shuttingDown()
        ? { status: 'fail', observedValue: 'draining', output: 'shutting down: finishing in-flight requests' }
        : { status: 'pass', observedValue: 'serving' }
    }
  }
}

/** `controls:count`: the overrides and bans in force on this replica; informational, never failing. */
export function controlsComponent (counts: () => { readonly overrides: number, readonly bans: number }): Component {
  return {
    key: 'controls:count',
    required: () => false,
    async check (): Promise<Observation> {
      return { status: 'pass', observedValue: counts() }
    }
  }
}
