import type { Server } from 'node:http'
import type { App } from './app'
import { recordChange } from './admin'
import { configuredClients, durationMs, LiveConfig, recordConfigInForce, reportReload, type ReloadResult } from './config'
import type { GrpcServer } from './grpc'
import { Shutdown, type Draining } from './lifecycle'
import { LimitState } from './limits'
import * as observe from './observe'
import { applyServerSettings, Forwarder, probeUpstream, type ProbeResult } from './proxy'
import type { StartOptions } from './server'

/*
 * The parts `start()` (server.ts) wires together, each built from what it reads: the
 * config in force and its state, the upstream pool and its probe, the health
 * components, the drain.
 */

export type Live = LiveConfig<LimitState>

/**
 * The config in force and its limiter state, built by the one `LimitState.build`; after
 * a reload the new state retires the old one's stores and the config metrics follow.
 */
export async function openLive (options: StartOptions, log: observe.Logger, metrics: observe.Metrics): Promise<Live> {
  const { config, hash } = options.loaded
  const deps = { log, events: observe.storeMetrics(metrics) }
  const live: Live = new LiveConfig({ config, hash, loadedAt: new Date(), state: await LimitState.build(config, deps) }, {
    path: options.configPath,
    env: options.env,
    build: async (next, previous) => await LimitState.build(next, deps, previous),
    onReload: (result, trigger, current, previous) => {
      if (result.result === 'success') {
        current.state.retire(previous.state)
        observe.zeroDecisions(metrics, configuredClients(current.config))
      }
      reportReload({ log, metrics }, result, trigger, current, previous)
    }
  })
  recordConfigInForce(metrics, live.current)
  observe.zeroDecisions(metrics, configuredClients(config))
  return live
}

/**
 * A reload by `trigger` (the watch, SIGHUP, POST /-/reload) asked by `who`: on success the
 * listeners take the new `server:` settings and the audit trail records the change. A
 * rejected reload changes nothing, and reportReload logs it as such.
 */
export function reloaderOf (parts: {
  log: observe.Logger,
  metrics: observe.Metrics,
  live: Live,
  /** Read only when a reload runs, once the listeners exist. */
  servers: () => { proxy: Server, admin: Server }
}): (trigger: string, who?: string) => Promise<ReloadResult> {
  const { log, metrics, live } = parts
  return async (trigger, who = trigger) => {
    const old = live.current.hash
    // Asked explicitly (SIGHUP, POST /-/reload), a rejected file is reported again; the watch reports it once.
    const result = await live.reload(trigger, { repeat: trigger !== 'watch' })
    if (result.result === 'success') {
      applyServerSettings(parts.servers(), live.config.server)
      await recordChange({ log, metrics }, live.state.runtime.controls, {
        kind: 'reload', action: 'reload', who, what: { trigger, changes: result.changes }, config_hash: { old, new: result.hash }
      })
    }
    return result
  }
}

/**
 * The upstream pool and its probe loop, on the first config's `upstream` (a change
 * needs a restart); the probe reads `upstream_health` live. Both absent without one.
 */
export function openUpstream (live: Live, metrics: observe.Metrics): { forwarder?: Forwarder, probe?: () => Promise<ProbeResult>, loop?: observe.UpstreamProbe } {
  const { upstream } = live.config
  if (upstream === undefined) return {}
  const forwarder = new Forwarder({
    url: upstream.url,
    timeoutMs: durationMs(upstream.timeout),
    onResponse: (statusClass, seconds) => {
      metrics.upstreamRequests.inc({ status_class: statusClass })
      metrics.upstreamDuration.observe({ status_class: statusClass }, seconds)
    }
  })
  const probe = async (): Promise<ProbeResult> => {
    const { path, timeout } = live.config.upstream_health
    return await probeUpstream(upstream.url, path, durationMs(timeout))
  }
  const loop = new observe.UpstreamProbe({
    probe,
    intervalMs: () => durationMs(live.config.upstream_health.interval),
    onResult: (up) => { metrics.upstreamUp.set(up ? 1 : 0) }
  })
  return { forwarder, probe, loop }
}

/** `/health/*`: every component, each reading the live state when asked. */
export function healthOf (live: Live, probe: (() => Promise<ProbeResult>) | undefined, redisRequired: () => boolean, draining: Draining, memoryUsage: () => NodeJS.MemoryUsage): observe.Health {
  const components = [
    observe.redisComponent(() => live.state.redisHealth, redisRequired),
    observe.upstreamComponent(probe),
    observe.configComponent(() => ({ hash: live.current.hash, loadedAt: live.current.loadedAt, lastReload: live.lastReload })),
    observe.eventLoopComponent(),
    observe.memoryComponent(memoryUsage),
    observe.shutdownComponent(() => draining.on),
    observe.controlsComponent(() => live.state.runtime.controls.counts())
  ]
  // Each check is cut at 1 s whatever its own timeout: probes (kubelet's default
  // timeoutSeconds is 1) must get an answer, and a check that slow is a failure anyway.
  return new observe.Health({ components: () => components })
}

/** The drain (`lifecycle/shutdown.ts`) of these listeners, timed by the live config, ending in `stop`. */
export function shutdownOf (parts: {
  log: observe.Logger,
  metrics: observe.Metrics,
  live: Live,
  app: App,
  grpc: GrpcServer | undefined,
  draining: Draining,
  interactive: boolean,
  stop: () => Promise<void>
}): Shutdown {
  const { log, metrics, live, app, grpc, draining, interactive, stop } = parts
  return new Shutdown({
    log,
    draining,
    proxy: app.proxy,
    admin: app.admin,
    decision: app.decision,
    grpc,
    interactive,
    timing: () => ({
      drainDelayMs: durationMs(live.config.shutdown.drain_delay),
      graceMs: durationMs(live.config.shutdown.grace)
    }),
    answered: async () => (await metrics.httpRequests.get()).values
      .filter((v) => v.labels.listener === 'proxy' || v.labels.listener === 'decision')
      .reduce((sum, v) => sum + v.value, 0),
    release: stop
  })
}
