import { readdirSync, readFileSync } from 'node:fs'
import { join, posix } from 'node:path'
import t from 'tap'
import ts from 'typescript'
import { parseAllDocuments } from 'yaml'
import { Deployment, type IDeployment } from 'kubernetes-models/apps/v1'
import { ConfigMap, Secret, Service, type IConfigMap, type IContainer, type IProbe, type ISecret, type IService } from 'kubernetes-models/v1'
import { ServiceMonitor, type IServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1'
import { durationMs, parseConfig, type Config } from '../../src/config'
import { at } from '../helpers/at'
import { REPO_ROOT } from '../helpers/spawn-ts'

// deploy/kubernetes/, checked offline (no API server here, nor in CI):
// - every object against the Kubernetes schemas, twice: kubernetes-models' validators
//   (types, enums, required fields), and the TypeScript compiler against the same
//   package's types, whose excess-property check catches a misspelt field (`subpath`,
//   `restartpolicy`) that Kubernetes' open schemas let through and the API server
//   would silently drop;
// - the config.yml the ConfigMap ships, parsed by tollgate's own parseConfig with the
//   Secret's REDIS_URL, against what the Deployment says about it: ports, probes,
//   mount, grace period.

const DIR = 'deploy/kubernetes'

interface Manifest { file: string, object: { apiVersion?: string, kind?: string, metadata?: { name?: string } } }

/** Each kind: its model (runtime validation) and its type (compile-time check). */
const KINDS: Record<string, { validate: (o: unknown) => void, type: string }> = {
  'apps/v1 Deployment': { validate: (o) => { new Deployment(o as IDeployment).validate() }, type: 'import("kubernetes-models/apps/v1").IDeployment' },
  'v1 ConfigMap': { validate: (o) => { new ConfigMap(o as IConfigMap).validate() }, type: 'import("kubernetes-models/v1").IConfigMap' },
  'v1 Secret': { validate: (o) => { new Secret(o as ISecret).validate() }, type: 'import("kubernetes-models/v1").ISecret' },
  'v1 Service': { validate: (o) => { new Service(o as IService).validate() }, type: 'import("kubernetes-models/v1").IService' },
  'monitoring.coreos.com/v1 ServiceMonitor': {
    validate: (o) => { new ServiceMonitor(o as IServiceMonitor).validate() },
    type: 'import("@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1").IServiceMonitor'
  }
}

const manifests: Manifest[] = readdirSync(join(REPO_ROOT, DIR))
  .filter((name) => /\.ya?ml$/.test(name))
  .sort()
  .flatMap((name) => {
    const file = `${DIR}/${name}`
    return parseAllDocuments(readFileSync(join(REPO_ROOT, file), 'utf8')).map((doc) => {
      if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors.map((e) => e.message).join('\n')}`)
      return { file, object: doc.toJS() as Manifest['object'] }
    })
  })

const where = (m: Manifest): string => `${m.file}: ${m.object.kind ?? '?'} ${m.object.metadata?.name ?? '?'}`

function one<T> (kind: string): T {
  const found = manifests.filter((m) => m.object.kind === kind)
  if (found.length !== 1) throw new Error(`${DIR} has ${found.length} ${kind} objects, expected 1`)
  return at(found, 0).object as T
}

t.test('every manifest validates against the Kubernetes schemas', async (t) => {
  t.ok(manifests.length >= 5, `${manifests.length} objects`)
  t.same([...new Set(manifests.map((m) => m.object.kind))].sort(), ['ConfigMap', 'Deployment', 'Secret', 'Service', 'ServiceMonitor'])
  for (const manifest of manifests) {
    const kind = KINDS[`${manifest.object.apiVersion ?? '?'} ${manifest.object.kind ?? '?'}`]
    t.ok(kind !== undefined, `${where(manifest)}: a known apiVersion and kind`)
    if (kind === undefined) continue
    t.doesNotThrow(() => { kind.validate(manifest.object) }, `${where(manifest)}: valid`)
  }
})

t.test('no misspelt or unknown field anywhere (TypeScript excess-property check)', async (t) => {
  const fileName = join(REPO_ROOT, 'test/deploy/__manifests__.ts')
  const source = manifests.map((m, i) => {
    const kind = KINDS[`${m.object.apiVersion ?? '?'} ${m.object.kind ?? '?'}`]
    return `// ${where(m)}\nexport const m${i}: ${kind?.type ?? 'never'} = ${JSON.stringify(m.object, null, 2)}\n`
  }).join('\n')
  const options: ts.CompilerOptions = { strict: true, noEmit: true, skipLibCheck: true, module: ts.ModuleKind.CommonJS, moduleResolution: ts.ModuleResolutionKind.Node10, target: ts.ScriptTarget.ES2022, types: [] }
  const host = ts.createCompilerHost(options)
  const getSourceFile = host.getSourceFile.bind(host)
  host.getSourceFile = (name, version, ...rest) => name === fileName
    ? ts.createSourceFile(name, source, version)
    : getSourceFile(name, version, ...rest)
  const fileExists = host.fileExists.bind(host)
  host.fileExists = (name) => name === fileName || fileExists(name)
  const program = ts.createProgram([fileName], options, host)
  const diagnostics = ts.getPreEmitDiagnostics(program).filter((d) => d.file?.fileName === fileName)
  const lines = source.split('\n')
  const messages = diagnostics.map((d) => {
    const { line } = d.file?.getLineAndCharacterOfPosition(d.start ?? 0) ?? { line: 0 }
    // The comment line above each object names its file and kind.
    const owner = lines.slice(0, line + 1).reverse().find((l) => l.startsWith('// ')) ?? ''
    return `${owner.slice(3)}: ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`
  })
  t.same(messages, [], 'no type errors')
})

// ---------------------------------------------------------------------------------
// What the Deployment says about tollgate must agree with the config it ships.

const deployment = one<IDeployment>('Deployment')
const configMap = one<IConfigMap>('ConfigMap')
const secret = one<ISecret>('Secret')
const service = one<IService>('Service')
const serviceMonitor = one<IServiceMonitor>('ServiceMonitor')
const pod = deployment.spec?.template.spec
const sidecar = pod?.initContainers?.find((c) => c.name === 'tollgate')
const app = pod?.containers.find((c) => c.name === 'app')

/** The image's CMD: where it reads its config. */
function imageConfigPath (): string {
  const line = readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8').split('\n').find((l) => l.startsWith('CMD '))
  const cmd = JSON.parse(line?.slice(4) ?? '[]') as string[]
  return at(cmd, cmd.indexOf('--config') + 1)
}

function shippedConfig (): Config {
  const text = configMap.data?.['config.yml']
  if (text === undefined) throw new Error('the ConfigMap has no config.yml')
  const env = { ...secret.stringData }
  const result = parseConfig(text, env, `${DIR}/configmap.yaml config.yml`)
  if (!result.ok) throw new Error(result.errors.join('\n'))
  return result.config
}

const port = (hostPort: string): number => Number(hostPort.slice(hostPort.lastIndexOf(':') + 1))

/** A probe's path and port number (a named port resolved through the container's ports). */
function httpProbe (container: IContainer, probe: IProbe | undefined): { path?: string, port?: number } {
  const target = probe?.httpGet?.port
  const named = container.ports?.find((p) => p.name === target)?.containerPort
  return { path: probe?.httpGet?.path, port: typeof target === 'number' ? target : named }
}

t.test('tollgate is a native sidecar of the app', async (t) => {
  t.ok(sidecar !== undefined, 'an init container named tollgate')
  t.equal(sidecar?.restartPolicy, 'Always', 'restartPolicy: Always (a sidecar, not a run-once init container)')
  t.notOk(pod?.containers.some((c) => c.name === 'tollgate'), 'not among the regular containers')
  t.ok(app !== undefined, 'the app is a regular container')
  t.equal(sidecar?.command, undefined, 'the image\'s entrypoint (tini) is kept')
  t.equal(sidecar?.args, undefined, 'the image\'s CMD (its config path) is kept')
  const { version } = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }
  t.equal(sidecar?.image, `tollgate:${version}`, 'the image is tagged with package.json\'s version')
})

t.test('the ConfigMap\'s config.yml is valid, with the Redis URL from the Secret', async (t) => {
  const config = shippedConfig()
  t.match(configMap.data?.['config.yml'], /^redis: \$\{REDIS_URL\}$/m, 'redis: ${REDIS_URL}, expanded from the environment')
  t.equal(config.redis?.url, secret.stringData?.REDIS_URL, 'the Secret\'s URL is the one used')
  const env = sidecar?.env?.find((e) => e.name === 'REDIS_URL')
  t.equal(env?.valueFrom?.secretKeyRef?.name, secret.metadata?.name, 'REDIS_URL comes from the Secret')
  t.ok(Object.keys(secret.stringData ?? {}).includes(env?.valueFrom?.secretKeyRef?.key ?? ''), 'under a key it has')
  t.notMatch(configMap.data?.['config.yml'], /redis:\/\//, 'no Redis URL (nor password) in the ConfigMap')
})

t.test('container ports and probes match listen and the health endpoints', async (t) => {
  if (sidecar === undefined) return t.fail('no sidecar')
  const { listen } = shippedConfig()
  const ports = Object.fromEntries((sidecar.ports ?? []).map((p) => [p.name, p.containerPort]))
  t.same(ports, { http: port(listen.proxy), admin: port(listen.admin) }, 'http = listen.proxy, admin = listen.admin')
  t.match(listen, { proxy: /^0\.0\.0\.0:/, admin: /^0\.0\.0\.0:/ }, 'listening on the pod IP, for the Service and the kubelet')

  const admin = port(listen.admin)
  t.same(httpProbe(sidecar, sidecar.livenessProbe), { path: '/health/live', port: admin }, 'liveness: /health/live on admin')
  t.same(httpProbe(sidecar, sidecar.readinessProbe), { path: '/health/ready', port: admin }, 'readiness: /health/ready on admin')
  // The app starts only once this probe passes, and /health/ready waits for the app.
  t.same(httpProbe(sidecar, sidecar.startupProbe), { path: '/health/live', port: admin }, 'startup: /health/live (never /health/ready: a deadlock)')
  const startup = sidecar.startupProbe
  const patience = (startup?.periodSeconds ?? 10) * (startup?.failureThreshold ?? 3)
  t.ok(patience > 10, `the startup probe waits ${patience}s, longer than the 10 s tollgate may wait for Redis before listening`)

  const upstream = new URL(shippedConfig().upstream?.url ?? 'http://invalid')
  t.equal(upstream.hostname, '127.0.0.1', 'the upstream is the app beside it, on loopback')
  t.same(app?.env?.filter((e) => e.name === 'HOST' || e.name === 'PORT').map((e) => [e.name, e.value]),
    [['HOST', '127.0.0.1'], ['PORT', upstream.port]], 'the app listens on the upstream address, loopback only')
})

t.test('the config is mounted as a ConfigMap directory, never with subPath', async (t) => {
  const mountPath = posix.dirname(imageConfigPath())
  const mount = sidecar?.volumeMounts?.find((m) => m.mountPath === mountPath)
  t.ok(mount !== undefined, `a volume at ${mountPath}, the directory the image's CMD reads ${posix.basename(imageConfigPath())} from`)
  t.equal(mount?.subPath, undefined, 'no subPath: subPath mounts are never updated')
  t.equal(mount?.readOnly, true, 'read-only')
  const volume = pod?.volumes?.find((v) => v.name === mount?.name)
  t.equal(volume?.configMap?.name, configMap.metadata?.name, 'the volume is the ConfigMap')
  t.ok(configMap.data?.[posix.basename(imageConfigPath())] !== undefined, 'whose key is the file the CMD reads')
  t.equal(volume?.configMap?.items, undefined, 'every key, so the file name is the key')
})

t.test('terminationGracePeriodSeconds > drain_delay + grace, after the app\'s preStop', async (t) => {
  const { shutdown } = shippedConfig()
  const drain = (durationMs(shutdown.drain_delay) + durationMs(shutdown.grace)) / 1000
  const preStop = app?.lifecycle?.preStop
  const appSleep = preStop?.sleep?.seconds ?? Number(preStop?.exec?.command?.[0] === 'sleep' ? preStop.exec.command[1] : 0)
  const period = pod?.terminationGracePeriodSeconds ?? 30
  t.ok(period > drain, `${period}s > drain_delay + grace = ${drain}s`)
  t.ok(period > appSleep + drain, `${period}s > the app's preStop (${appSleep}s) + ${drain}s: the sidecar stops only after the app`)
  t.equal(sidecar?.lifecycle?.preStop, undefined, 'tollgate has no preStop: drain_delay is its wait')
})

t.test('the Service and the ServiceMonitor reach tollgate\'s ports', async (t) => {
  const labels = deployment.spec?.template.metadata?.labels ?? {}
  const selects = (selector: Record<string, string> | undefined): boolean =>
    selector !== undefined && Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels[k] === v)
  t.ok(selects(service.spec?.selector), 'the Service selects the pods')
  t.ok(selects(deployment.spec?.selector.matchLabels), 'the Deployment selects its pods')
  const sidecarPorts = (sidecar?.ports ?? []).map((p) => p.name)
  for (const p of service.spec?.ports ?? []) {
    t.ok(sidecarPorts.includes(String(p.targetPort)), `Service port ${p.name ?? '?'} → tollgate's ${String(p.targetPort)}`)
  }

  const { listen } = shippedConfig()
  const serviceLabels = service.metadata?.labels ?? {}
  const matchLabels = serviceMonitor.spec.selector.matchLabels ?? {}
  t.ok(Object.keys(matchLabels).length > 0 && Object.entries(matchLabels).every(([k, v]) => serviceLabels[k] === v), 'the ServiceMonitor selects the Service')
  const endpoint = serviceMonitor.spec.endpoints?.[0]
  const servicePort = service.spec?.ports?.find((p) => p.name === endpoint?.port)
  t.equal(servicePort?.targetPort, 'admin', 'it scrapes the Service port that targets admin')
  t.equal(endpoint?.path, '/metrics')
  t.ok(endpoint?.relabelings?.some((r) => r.targetLabel === 'job' && r.replacement === 'tollgate'), 'job="tollgate", as prometheus/alerts.yml expects')

  const annotations = deployment.spec?.template.metadata?.annotations ?? {}
  t.same([annotations['prometheus.io/scrape'], annotations['prometheus.io/port'], annotations['prometheus.io/path']],
    ['true', String(port(listen.admin)), '/metrics'], 'scrape annotations name the admin port')
})
