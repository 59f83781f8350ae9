import type { Test } from 'tap'
import { startTollgate, type Tollgate } from '../helpers/child'
import { send } from '../helpers/http'
import { startPrometheus, type Prometheus } from '../helpers/prometheus'
import { startRedis } from '../helpers/redis'
import { startUpstream } from '../helpers/upstream'
import { waitForUp } from './prometheus-e2e-answers'
import { testConfig, tollgateConfig } from './prometheus-e2e-config'
import { driveTraffic, TRAFFIC_MS } from './prometheus-e2e-traffic'

// Shared by prometheus-e2e.test.ts: the scenario its checks look at. A real Prometheus,
// configured from the shipped prometheus.yml, scrapes a tollgate (the real CLI, with
// Redis and an upstream) that restarts once, while traffic flows, 429s included.

export interface Scenario {
  readonly prometheus: Prometheus
  /** The second tollgate process, the one serving the traffic. */
  readonly tollgate: Tollgate
  /** The admin host:port Prometheus scrapes: the dashboard's `instance`. */
  readonly instance: string
  /** When the first tollgate was scraped, and when the traffic started: seconds since the epoch. */
  readonly started: number
  readonly trafficStart: number
  readonly traffic: ReturnType<typeof driveTraffic>
  /** Stops the traffic (once; later calls do nothing). */
  stopTraffic(): Promise<void>
}

/** Starts everything, restarts tollgate once, and returns after TRAFFIC_MS of traffic (which keeps flowing). */
export async function startScenario (t: Test): Promise<Scenario> {
  const redis = await startRedis(t)
  const upstream = await startUpstream(t)
  // The first tollgate takes any free admin port; the second (the restart) reuses it,
  // so Prometheus sees one instance whose process restarted.
  let tollgate: Tollgate = await startTollgate(t, { configYaml: tollgateConfig(upstream.url, redis.url, 0) })
  const target = new URL(tollgate.adminUrl).host
  const prometheus = await startPrometheus(t, (port) => testConfig(target, port))
  const started = Date.now() / 1000

  await waitForUp(t, prometheus, 15_000, 'the first tollgate')

  // A restart, as a crash and a new process on the same address: the dashboard's
  // "Restarts" annotation must show it.
  tollgate.signal('SIGKILL')
  await tollgate.exited
  const adminPort = Number(new URL(tollgate.adminUrl).port)
  tollgate = await startTollgate(t, { configYaml: tollgateConfig(upstream.url, redis.url, adminPort) })
  t.equal(new URL(tollgate.adminUrl).host, target, 'the restarted tollgate serves /metrics on the same address')

  // A start time different from the first process's: the new process was scraped.
  await prometheus.waitForData('changes(tollgate_process_start_time_seconds{job="tollgate"}[5m]) > 0', 15_000)
  await waitForUp(t, prometheus, 5000, 'the restarted tollgate')

  return { prometheus, tollgate, instance: target, started, ...await startTraffic(t, tollgate) }
}

async function startTraffic (t: Test, tollgate: Tollgate): Promise<Pick<Scenario, 'traffic' | 'stopTraffic' | 'trafficStart'>> {
  const traffic = driveTraffic(tollgate.proxyUrl)
  let trafficStopped = false
  const stopTraffic = async (): Promise<void> => {
    if (trafficStopped) return
    trafficStopped = true
    await traffic.stop()
  }
  // Stop before the processes' teardowns kill what the requests go to.
  t.teardown(stopTraffic)
  const trafficStart = Date.now() / 1000
  // An operator's change (a ban of addresses no traffic comes from), for the "Admin changes" annotation.
  const ban = await send('PUT', `${tollgate.adminUrl}/v1/bans/203.0.113.0%2F24`, { 'content-type': 'application/json' }, JSON.stringify({ for: '10m', reason: 'e2e' }))
  t.equal(ban.status, 200, 'the ban was set')
  await new Promise((resolve) => setTimeout(resolve, TRAFFIC_MS))
  // Traffic keeps flowing while the queries run: instant queries look at the last
  // seconds, and a rate over a pause is 0 (still data, but not what a user sees).
  return { traffic, stopTraffic, trafficStart }
}
