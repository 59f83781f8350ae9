import { execFile } from 'node:child_process'
import { existsSync, readFileSync, statSync } from 'node:fs'
import { join, posix } from 'node:path'
import t from 'tap'
import { parse } from 'yaml'
import { durationMs, parseConfig, type Config } from '../../src/config'
import { sha256Hex } from '../../src/limits/identity'
import { at } from '../helpers/at'
import { REPO_ROOT } from '../helpers/spawn-ts'

// docker-compose.yml, checked without a Docker engine: Debian's docker-compose (1.29)
// validates it, and every value that must agree with another file (the config it
// mounts, the Dockerfile, prometheus.yml, Grafana's provisioning, the README's URLs)
// is compared with it. compose-stack.test.ts runs the stack's pieces for real.

const read = (path: string): string => readFileSync(join(REPO_ROOT, path), 'utf8')

interface Healthcheck { test?: string[] | string, interval?: string, timeout?: string, retries?: number, start_period?: string }
interface Service {
  image?: string
  build?: string | { context: string }
  command?: string[] | string
  environment?: Record<string, string>
  ports?: string[]
  volumes?: string[]
  depends_on?: Record<string, { condition: string }> | string[]
  healthcheck?: Healthcheck
  stop_grace_period?: string
  profiles?: string[]
}
interface Compose { version?: string, services: Record<string, Service> }

const compose = parse(read('docker-compose.yml')) as Compose
const services = compose.services

function service (name: string): Service {
  const found = services[name]
  if (found === undefined) throw new Error(`docker-compose.yml has no service ${name}`)
  return found
}

const MISSING = 'docker-compose is not installed: the test validates docker-compose.yml with it, no Docker engine needed ' +
  '(Debian/Ubuntu: apt-get install -y --no-install-recommends docker-compose; CI installs it)'

async function dockerCompose (args: string[]): Promise<{ code: number, stdout: string, stderr: string }> {
  return await new Promise((resolve, reject) => {
    execFile('docker-compose', args, { cwd: REPO_ROOT, timeout: 60_000 }, (error, stdout, stderr) => {
      if (error === null) return resolve({ code: 0, stdout, stderr })
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return reject(new Error(MISSING))
      resolve({ code: typeof error.code === 'number' ? error.code : -1, stdout, stderr })
    })
  })
}

/** Compose durations: `1m30s`, `15s`, `500ms`. */
function composeMs (value: string): number {
  const parts = [...value.matchAll(/(\d+(?:\.\d+)?)(h|ms|m|s|us)/g)]
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== value) throw new Error(`not a compose duration: ${value}`)
  const unit = { h: 3_600_000, m: 60_000, s: 1000, ms: 1, us: 0.001 }
  return parts.reduce((sum, [, n, u]) => sum + Number(n) * unit[u as keyof typeof unit], 0)
}

/** `./host:/container[:ro]` → its parts. */
function mount (volume: string): { source: string, target: string, readOnly: boolean } {
  const [source, target, mode] = volume.split(':')
  if (source === undefined || target === undefined) throw new Error(`not a HOST:CONTAINER volume: ${volume}`)
  return { source: posix.normalize(source), target, readOnly: mode === 'ro' }
}

/** `127.0.0.1:8080:8080` → host and container ports. */
function published (port: string): { host: number, container: number } {
  const parts = port.split(':')
  return { host: Number(at(parts, -2)), container: Number(at(at(parts, -1).split('/'), 0)) }
}

/** The Dockerfile's CMD, exec form. */
function imageCmd (): string[] {
  const line = read('Dockerfile').split('\n').find((l) => l.startsWith('CMD '))
  if (line === undefined) throw new Error('the Dockerfile has no CMD')
  return JSON.parse(line.slice(4)) as string[]
}

function hostPort (value: string): { host: string, port: number } {
  const url = new URL(value.includes('://') ? value : `tcp://${value}`)
  return { host: url.hostname, port: Number(url.port) }
}

const tollgate = service('tollgate')
/** The config file the container reads, and the host directory mounted over its directory. */
const configInImage = at(imageCmd(), imageCmd().indexOf('--config') + 1)
const configMount = (tollgate.volumes ?? []).map(mount).find((m) => m.target === posix.dirname(configInImage))
const configPath = configMount === undefined ? undefined : join(configMount.source, posix.basename(configInImage))

function composeConfig (): Config {
  if (configPath === undefined) throw new Error(`tollgate mounts no directory at ${posix.dirname(configInImage)}: which config does it run?`)
  const result = parseConfig(read(configPath), {}, configPath)
  if (!result.ok) throw new Error(`${configPath}:\n${result.errors.join('\n')}`)
  return result.config
}

t.test('docker-compose config -q accepts the file', async (t) => {
  const result = await dockerCompose(['-f', 'docker-compose.yml', 'config', '-q'])
  t.equal(result.code, 0, 'exit 0', { stderr: result.stderr })
  t.equal(compose.version, undefined, 'no obsolete top-level version key')
})

t.test('the five services: app, tollgate, redis, prometheus, grafana; and nginx in the gateway profile', async (t) => {
  t.same(Object.keys(services).sort(), ['app', 'grafana', 'nginx', 'prometheus', 'redis', 'tollgate'])
  t.same(service('nginx').profiles, ['gateway'], 'nginx only with --profile gateway')
  t.equal(tollgate.build, '.', 'tollgate is built from this repository')
  t.equal(service('app').build, './examples/app', 'the demo app is built from examples/app')
  const { version } = JSON.parse(read('package.json')) as { version: string }
  t.equal(tollgate.image, `tollgate:${version}`, 'the image is tagged with package.json\'s version')
})

t.test('health checks, and dependencies that wait for them', async (t) => {
  const imageHealthcheck = (name: string): boolean => {
    const build = service(name).build
    const context = typeof build === 'string' ? build : build?.context
    return context !== undefined && /^HEALTHCHECK /m.test(read(join(context, 'Dockerfile')))
  }
  for (const [name, service] of Object.entries(services)) {
    t.ok(service.healthcheck !== undefined || imageHealthcheck(name), `${name} has a health check (in compose or its Dockerfile)`)
    const dependsOn = service.depends_on ?? {}
    t.notOk(Array.isArray(dependsOn), `${name}: depends_on in the long form, with conditions`)
    for (const [dependency, { condition }] of Object.entries(dependsOn)) {
      t.equal(condition, 'service_healthy', `${name} waits for ${dependency} to be healthy`)
    }
  }
  t.same(Object.keys(tollgate.depends_on ?? {}).sort(), ['app', 'redis'], 'tollgate starts once the app and Redis are healthy')
  t.same(Object.keys(service('grafana').depends_on ?? {}), ['prometheus'], 'Grafana once its datasource is')
})

t.test('tollgate reads the compose config, mounted as a directory', async (t) => {
  t.ok(configMount !== undefined, `a volume mounts a directory at ${posix.dirname(configInImage)}, where the image's CMD reads its config`)
  if (configMount === undefined) return
  t.ok(statSync(join(REPO_ROOT, configMount.source)).isDirectory(), `${configMount.source} is a directory, not the file`)
  t.ok(existsSync(join(REPO_ROOT, configPath ?? '')), `${configPath ?? '?'} exists`)
  const config = composeConfig()
  t.equal(config.listen.proxy, '0.0.0.0:8080', 'proxy on every interface of the container')
  t.equal(config.listen.admin, '0.0.0.0:9464', 'admin on every interface of the container')
  t.equal(config.upstream?.url, 'http://app:3000', 'upstream: the app service')
  t.equal(config.redis?.url, 'redis://redis:6379', 'redis: the redis service')

  const containerPorts = (tollgate.ports ?? []).map(published).map((p) => p.container).sort()
  t.same(containerPorts, [hostPort(config.listen.proxy).port, hostPort(config.listen.admin).port].sort(), 'published ports are the listen ports')
  const upstream = hostPort(config.upstream?.url ?? '')
  t.ok(services[upstream.host] !== undefined, `the upstream host ${upstream.host} is a service`)
  t.equal(services[upstream.host]?.environment?.PORT, String(upstream.port), 'the app listens on the upstream port')
  t.ok(services[hostPort(config.redis?.url ?? '').host] !== undefined, 'the Redis host is a service')
})

t.test('stop_grace_period is more than drain_delay + grace', async (t) => {
  const { shutdown } = composeConfig()
  const budget = durationMs(shutdown.drain_delay) + durationMs(shutdown.grace)
  const period = tollgate.stop_grace_period
  t.ok(period !== undefined, 'tollgate sets stop_grace_period (the default, 10s, is below the drain)')
  if (period === undefined) return
  t.ok(composeMs(period) > budget, `${period} > ${shutdown.drain_delay} + ${shutdown.grace}`)
})

t.test('Prometheus runs the shipped prometheus/ and scrapes the tollgate service', async (t) => {
  const prometheus = service('prometheus')
  const volume = (prometheus.volumes ?? []).map(mount).find((m) => m.source === 'prometheus')
  t.ok(volume !== undefined, './prometheus is mounted')
  const flag = (prometheus.command as string[]).find((c) => c.startsWith('--config.file='))
  t.equal(flag, `--config.file=${volume?.target ?? '?'}/prometheus.yml`, 'its prometheus.yml is the config file')

  const scrape = parse(read('prometheus/prometheus.yml')) as { scrape_configs: Array<{ job_name: string, static_configs: Array<{ targets: string[] }> }> }
  const targets = scrape.scrape_configs.find((c) => c.job_name === 'tollgate')?.static_configs.flatMap((s) => s.targets)
  t.same(targets, [`tollgate:${hostPort(composeConfig().listen.admin).port}`], 'job tollgate scrapes the tollgate service\'s admin port')
})

t.test('Grafana: anonymous viewers, the provisioning and the dashboards mounted', async (t) => {
  const grafana = service('grafana')
  t.match(grafana.environment, { GF_AUTH_ANONYMOUS_ENABLED: 'true', GF_AUTH_ANONYMOUS_ORG_ROLE: 'Viewer' })
  const mounts = (grafana.volumes ?? []).map(mount)
  t.ok(mounts.some((m) => m.source === 'grafana/provisioning' && m.target === '/etc/grafana/provisioning'), 'provisioning mounted')

  const provider = parse(read('grafana/provisioning/dashboards/tollgate.yml')) as { providers: Array<{ options: { path: string } }> }
  const dashboards = mounts.find((m) => m.source === 'grafana/dashboards')
  t.equal(dashboards?.target, provider.providers[0]?.options.path, 'the dashboards are mounted where the file provider reads them')
  const home = grafana.environment?.GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH ?? ''
  t.ok(home.startsWith(`${dashboards?.target ?? '?'}/`) && existsSync(join(REPO_ROOT, 'grafana/dashboards', posix.basename(home))), 'the home dashboard is a shipped one')

  const datasource = parse(read('grafana/provisioning/datasources/prometheus.yml')) as { datasources: Array<{ url: string }> }
  const url = new URL(at(datasource.datasources, 0).url)
  t.ok(services[url.hostname] !== undefined, `the datasource's host ${url.hostname} is a service`)
  t.ok((service('prometheus').ports ?? []).map(published).some((p) => p.container === Number(url.port)), 'on the port Prometheus serves')
})

t.test('host ports are on loopback only', async (t) => {
  for (const [name, service] of Object.entries(services)) {
    for (const port of service.ports ?? []) t.match(port, /^127\.0\.0\.1:/, `${name}: ${port}`)
  }
})

// The README's walk-through must work on this file: its URLs are published ports, its
// key is a configured one, and its curl loop sends more than the plan allows.
t.test('README "## Deploy" matches the stack', async (t) => {
  const readme = read('README.md')
  const start = readme.indexOf('\n## Deploy\n')
  t.ok(start !== -1, 'README has a "## Deploy" section')
  const section = readme.slice(start, readme.indexOf('\n## ', start + 1))
  const hostPorts = new Set(Object.values(services).flatMap((s) => (s.ports ?? []).map((p) => published(p).host)))
  const urls = [...section.matchAll(/localhost:(\d+)/g)].map((m) => Number(m[1]))
  t.same([...new Set(urls)].sort(), [...hostPorts].sort(), 'every published port is shown, and only those')

  const config = composeConfig()
  const loop = /for i in \$\(seq (\d+)\).*-H '([^:]+): ([^']+)' localhost:8080/.exec(section)
  t.ok(loop !== null, 'a curl loop against :8080 with an API key')
  if (loop === null) return
  const [count, header, key] = [at(loop, 1), at(loop, 2), at(loop, 3)]
  t.equal(header, config.api_key.header, 'the key header')
  const client = config.keys.find((k) => k.sha256 === sha256Hex(key) || k.key === key)
  t.ok(client !== undefined, `${key} is a configured key`)
  const windows = config.plans[client?.plan ?? ''] ?? []
  t.ok(windows.some((w) => w.max < Number(count)), `${count} requests exceed one of the plan's windows`)
})
