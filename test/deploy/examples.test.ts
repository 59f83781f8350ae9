import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { parse } from 'yaml'
import { REPO_ROOT } from '../helpers/spawn-ts'

// The gateway examples' shape. They run for real in test/proxy/nginx.test.ts (nginx) and
// against their documented request shapes in test/proxy/gateways.test.ts (Traefik, Envoy).

const read = (path: string): string => readFileSync(join(REPO_ROOT, path), 'utf8')

t.test('nginx: auth_request to /v1/authorize, refusals turned back into 429', async (t) => {
  const conf = read('examples/nginx/tollgate-auth-request.conf')
  t.match(conf, /^\s*auth_request \/_tollgate;/m, 'auth_request on the app\'s location')
  t.match(conf, /location = \/_tollgate \{[^}]*\binternal;[^}]*proxy_pass http:\/\/tollgate_decision\/v1\/authorize;/s, 'an internal location calls the decision API')
  t.match(conf, /proxy_pass_request_body off;/, 'without the body')
  t.match(conf, /proxy_set_header X-Original-URI +\$request_uri;/, 'with the original URI')
  t.match(conf, /proxy_set_header X-Original-Method +\$request_method;/, 'and method')
  t.match(conf, /error_page 403 = @rate_limited;/, 'the deny status (403: nginx makes a 500 of a 429) becomes a 429')
  t.match(conf, /location @rate_limited \{[^}]*return 429 /s)
  // Braces balance: a cheap guard against a broken block, nginx itself not being here.
  t.equal(conf.split('{').length, conf.split('}').length, 'balanced braces')
})

t.test('Traefik: a forwardAuth middleware to /v1/authorize on the app\'s router', async (t) => {
  interface Dynamic {
    http: {
      middlewares: Record<string, { forwardAuth?: { address: string, authResponseHeaders?: string[] } }>
      routers: Record<string, { middlewares?: string[], service: string }>
      services: Record<string, unknown>
    }
  }
  const dynamic = parse(read('examples/traefik/dynamic.yml')) as Dynamic
  const auth = dynamic.http.middlewares.tollgate?.forwardAuth
  t.equal(new URL(auth?.address ?? 'http://invalid').pathname, '/v1/authorize', 'forwardAuth address')
  t.ok(auth?.authResponseHeaders?.includes('X-Tollgate-Client'), 'the client name is passed on to the app')
  const router = dynamic.http.routers.app
  t.same(router?.middlewares, ['tollgate'], 'the app\'s router uses it')
  t.ok(dynamic.http.services[router?.service ?? ''] !== undefined, 'to a service that exists')
})

t.test('Envoy: the ratelimit HTTP filter against tollgate\'s gRPC listener, every descriptor it builds matched by a rule', async (t) => {
  type Action = { request_headers?: { header_name: string, descriptor_key: string }, remote_address?: object, header_value_match?: { descriptor_key?: string, descriptor_value: string } }
  interface Envoy {
    static_resources: {
      listeners: Array<{
        filter_chains: Array<{
          filters: Array<{
            typed_config: {
              route_config: { virtual_hosts: Array<{ routes: Array<{ route: { rate_limits?: Array<{ actions: Action[] }> } }> }> }
              http_filters: Array<{ name: string, typed_config: Record<string, unknown> }>
            }
          }>
        }>
      }>
      clusters: Array<{ name: string, typed_extension_protocol_options?: Record<string, { explicit_http_config?: { http2_protocol_options?: object } }>, health_checks?: Array<{ grpc_health_check?: object }>, load_assignment: { endpoints: Array<{ lb_endpoints: Array<{ endpoint: { address: { socket_address: { port_value: number } } } }> }> } }>
    }
  }
  const envoy = parse(read('examples/envoy/envoy.yaml')) as Envoy
  const manager = envoy.static_resources.listeners[0]?.filter_chains[0]?.filters[0]?.typed_config
  const filter = manager?.http_filters.find((f) => f.name === 'envoy.filters.http.ratelimit')?.typed_config
  t.equal(filter?.['@type'], 'type.googleapis.com/envoy.extensions.filters.http.ratelimit.v3.RateLimit')
  const service = filter?.rate_limit_service as { transport_api_version?: string, grpc_service?: { envoy_grpc?: { cluster_name?: string } } } | undefined
  t.equal(service?.transport_api_version, 'V3')
  const cluster = envoy.static_resources.clusters.find((c) => c.name === service?.grpc_service?.envoy_grpc?.cluster_name)
  t.ok(cluster?.typed_extension_protocol_options?.['envoy.extensions.upstreams.http.v3.HttpProtocolOptions']?.explicit_http_config?.http2_protocol_options, 'gRPC: HTTP/2 to the tollgate cluster')
  t.ok(cluster?.health_checks?.[0]?.grpc_health_check, 'health-checked over grpc.health.v1')

  const { parseConfig } = await import('../../src/config')
  const loaded = parseConfig(read('examples/envoy/tollgate.yml'), {}, 'examples/envoy/tollgate.yml')
  if (!loaded.ok) throw new Error(loaded.errors.join('\n'))
  const port = cluster?.load_assignment.endpoints[0]?.lb_endpoints[0]?.endpoint.address.socket_address.port_value
  t.equal(loaded.config.listen.grpc, `0.0.0.0:${port}`, 'the cluster points at listen.grpc')
  const rules = loaded.config.rls?.domains[String(filter?.domain)] ?? []
  t.ok(rules.length > 0, `the filter's domain ${String(filter?.domain)} is a tollgate domain`)

  const descriptors = (manager?.route_config.virtual_hosts ?? []).flatMap((host) => host.routes).flatMap((route) => route.route.rate_limits ?? [])
    .map((limit) => limit.actions.map((a) => {
      if (a.request_headers !== undefined) return { key: a.request_headers.descriptor_key }
      if (a.remote_address !== undefined) return { key: 'remote_address' }
      if (a.header_value_match !== undefined) return { key: a.header_value_match.descriptor_key ?? 'header_match', value: a.header_value_match.descriptor_value }
      throw new Error(`an action this check does not know: ${JSON.stringify(a)}`)
    }))
  t.ok(descriptors.length >= 3)
  for (const entries of descriptors) {
    const rule = rules.find((r) => r.match.length === entries.length && r.match.every((m, i) => m.key === entries[i]?.key && (m.value === undefined || m.value === entries[i]?.value)))
    t.ok(rule, `[${entries.map((e) => e.key).join(', ')}] has a tollgate rule`)
  }
})

t.test('Envoy ext_authz: an HTTP service behind path_prefix /v1/authorize, the key header allowed, failing closed', async (t) => {
  interface Filter { name: string, typed_config: Record<string, unknown> }
  const envoy = parse(read('examples/envoy/ext-authz.yaml')) as {
    static_resources: {
      listeners: Array<{ filter_chains: Array<{ filters: Array<{ typed_config: { http_filters: Filter[] } }> }> }>
      clusters: Array<{ name: string }>
    }
  }
  const filters = envoy.static_resources.listeners[0]?.filter_chains[0]?.filters[0]?.typed_config.http_filters ?? []
  t.same(filters.map((f) => f.name), ['envoy.filters.http.ext_authz', 'envoy.filters.http.router'], 'ext_authz before the router')
  const config = filters[0]?.typed_config as { '@type': string, failure_mode_allow: boolean, http_service: { server_uri: { cluster: string }, path_prefix: string, authorization_request: { allowed_headers: { patterns: Array<{ exact: string }> } } } }
  t.equal(config['@type'], 'type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz')
  t.equal(config.failure_mode_allow, false, 'an unreachable tollgate refuses, never lets through')
  t.equal(config.http_service.path_prefix, '/v1/authorize')
  t.ok(envoy.static_resources.clusters.some((c) => c.name === config.http_service.server_uri.cluster), 'the server_uri cluster exists')
  t.ok(config.http_service.authorization_request.allowed_headers.patterns.some((p) => p.exact === 'x-api-key'), 'the key header reaches tollgate')
})
