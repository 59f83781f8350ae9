import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { parse } from 'yaml'
import { REPO_ROOT } from '../helpers/child'

// The gateway examples call GET /v1/authorize, which tollgate does not serve yet: each
// must say so at its top, so nobody deploys one and wonders why every request fails.
// Their shape is checked here; they run for real once the decision API exists.

const read = (path: string): string => readFileSync(join(REPO_ROOT, path), 'utf8')
const NOT_WIRED = /^# NOT WIRED YET: needs the decision API\./

const gatewayExamples = ['examples/nginx', 'examples/traefik'].flatMap((dir) =>
  readdirSync(join(REPO_ROOT, dir)).map((name) => `${dir}/${name}`))

t.test('every gateway example says it is not wired yet, on its first line', async (t) => {
  t.ok(gatewayExamples.length >= 2, gatewayExamples.join(', '))
  for (const file of gatewayExamples) {
    const text = read(file)
    t.match(text, NOT_WIRED, `${file} starts with the notice`)
    t.match(text, /GET \/v1\/authorize/, `${file} names the missing endpoint`)
  }
})

t.test('nginx: auth_request to /v1/authorize, refusals turned back into 429', async (t) => {
  const conf = read('examples/nginx/tollgate-auth-request.conf')
  t.match(conf, /^\s*auth_request \/_tollgate;/m, 'auth_request on the app\'s location')
  t.match(conf, /location = \/_tollgate \{[^}]*\binternal;[^}]*proxy_pass http:\/\/tollgate_decision\/v1\/authorize;/s, 'an internal location calls the decision API')
  t.match(conf, /proxy_pass_request_body off;/, 'without the body')
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
  t.same(router.middlewares, ['tollgate'], 'the app\'s router uses it')
  t.ok(dynamic.http.services[router.service] !== undefined, 'to a service that exists')
})
