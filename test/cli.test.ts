import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import t from 'tap'
import { parseConfig } from '../src/config'
import { get } from './helpers/http'
import { startTollgate } from './helpers/child'
import { runCli } from './helpers/run-cli'
import { REPO_ROOT } from './helpers/spawn-ts'

// The real CLI (src/cli.ts) in its own process: exit codes, stdout and stderr. Each
// child costs seconds of TypeScript loading, so runs are few and several go at once.
t.jobs = 3

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex')
const VERSION = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version

const ACME_KEY = 'acme-live-7f3a9c'
const DEMO_KEY = 'demo-clear-key-51d2'
const GOOD = `listen: { proxy: "127.0.0.1:0", admin: "127.0.0.1:0" }
upstream: http://127.0.0.1:3000
plans:
  anonymous: [ { max: 10, per: 1m } ]
  free: [ { max: 5, per: 1s }, { max: 1000, per: 1d, algorithm: fixed } ]
  pro: [ { max: 100, per: 1s } ]
keys:
  - { name: acme, sha256: "${sha256(ACME_KEY)}", plan: pro }
  - { name: demo, key: ${DEMO_KEY}, plan: free }
routes:
  - { match: "GET /healthz", limit: false }
  - { match: "POST /v1/upload/*", cost: 10 }
  - { match: "POST /v1/search", plans: { free: [ { max: 1, per: 10s } ] } }
`

const PASSWORD_VAR = 'TOLLGATE_TEST_REDIS_PASSWORD'
const REDIS_LINE = `redis: "redis://:\${${PASSWORD_VAR}}@cache:6379"\n`

// Seven mistakes, each at its own path; `listen` itself is valid, so only the errors stop it.
const BAD = `listen: { proxy: "127.0.0.1:0", admin: "127.0.0.1:0" }
${REDIS_LINE}on_redis_error: maybe
plans:
  free: [ { max: 5, per: 1s }, { max: 5, per: 1x } ]
keys:
  - { name: acme, sha256: "${sha256(ACME_KEY)}", plan: gold }
  - { name: demo, plan: free }
routes:
  - { match: "GET /healthz", limt: false }
shadow: sometimes
`
const BAD_ERRORS = [
  `redis.url: environment variable ${PASSWORD_VAR} is not set`,
  'on_redis_error: "maybe" must be one of allow, deny, local',
  'plans.free[1].per: "1x" is not a duration (an integer with ms, s, m, h or d: 500ms, 30s, 5m, 1d)',
  'routes[0].limt: is not a known key',
  'shadow: "sometimes" must be boolean',
  'keys[0].plan: "gold" is not a plan in plans (free)',
  'keys[1]: needs exactly one of sha256 or key'
]
const listed = (errors: string[]): string => errors.map((e) => `  ${e}\n`).join('')

t.test('check-config on a good file: exit 0 and a summary without key material', async (t) => {
  const text = GOOD + REDIS_LINE
  const dir = t.testdir({ 'config.yml': text })
  const file = join(dir, 'config.yml')
  const result = await runCli(['check-config', file], { env: { [PASSWORD_VAR]: 'hunter2' } })
  t.equal(result.code, 0, result.stderr)

  const parsed = parseConfig(text, { [PASSWORD_VAR]: 'hunter2' }, file)
  if (!parsed.ok) throw new Error(parsed.errors.join('\n'))
  t.match(result.stdout, `config OK (hash ${parsed.hash})`)
  t.match(result.stdout, 'upstream: http://127.0.0.1:3000')
  t.match(result.stdout, 'store:    redis, on_redis_error: allow')
  t.match(result.stdout, /^ {4}anonymous: 10\/1m gcra$/m)
  t.match(result.stdout, /^ {4}free: 5\/1s gcra, 1000\/1d fixed$/m)
  t.match(result.stdout, /^ {4}pro: 100\/1s gcra$/m)
  t.match(result.stdout, 'keys:     2 (free 1, pro 1)\n    acme (pro), demo (free)\n')
  t.match(result.stdout, /^ {4}GET \/healthz: not limited$/m)
  t.match(result.stdout, /^ {4}POST \/v1\/upload\/\*: cost 10$/m)
  t.match(result.stdout, /^ {4}POST \/v1\/search: cost 1, own windows for free$/m)

  t.equal(result.stderr, 'warning: key "demo" is in clear text in the config; store its sha256 instead (tollgate hash-key)\n' +
    'warning: routes[1] ("POST /v1/upload/*"): cost 10 is more than plans.free[0].max (5): clients on plan free are always refused there\n')
  const everything = result.stdout + result.stderr
  t.notMatch(everything, DEMO_KEY, 'the clear key is never printed')
  t.notMatch(everything, ACME_KEY)
  t.notMatch(everything, sha256(ACME_KEY).slice(0, 12), 'nor its digest, nor a piece of it')
  t.notMatch(everything, 'hunter2', 'nor a secret from the environment')
})

t.test('check-config on the repository config.yml (what npm start serves)', async (t) => {
  const result = await runCli(['check-config', 'config.yml'])
  t.equal(result.code, 0, result.stderr)
  t.match(result.stdout, /^config OK \(hash [0-9a-f]{12}\)$/m)
})

t.test('check-config on a bad file: exit 1 and every error with its path', async (t) => {
  const dir = t.testdir({ 'bad.yml': BAD })
  const file = join(dir, 'bad.yml')
  const result = await runCli(['check-config', file], { env: { [PASSWORD_VAR]: undefined } })
  t.equal(result.code, 1)
  t.equal(result.stdout, '', 'no summary')
  t.equal(result.stderr, `${file}: ${BAD_ERRORS.length} error(s)\n${listed(BAD_ERRORS)}`)
})

t.test('check-config on a missing file: exit 1 and a clear message', async (t) => {
  const file = join(t.testdir({}), 'nope.yml')
  const result = await runCli(['check-config', file])
  t.equal(result.code, 1)
  t.equal(result.stdout, '')
  t.equal(result.stderr, `${file}: 1 error(s)\n  ${file}: cannot read the file: no such file (ENOENT)\n`)
})

t.test('hash-key prints the sha256 hex of the key and a newline', async (t) => {
  const key = 'K3y_with-$ymbols!&~'
  const result = await runCli(['hash-key', key])
  t.equal(result.code, 0)
  t.equal(result.stdout, `${sha256(key)}\n`)
  t.equal(result.stderr, '')
})

t.test('--help prints the usage', async (t) => {
  const result = await runCli(['--help'])
  t.equal(result.code, 0)
  t.match(result.stdout, /^Usage:\n/)
  for (const command of ['tollgate [--config FILE]', 'tollgate check-config FILE', 'tollgate hash-key [KEY]', '--version']) {
    t.match(result.stdout, command)
  }
})

t.test('--version prints the package version', async (t) => {
  const result = await runCli(['--version'])
  t.equal(result.code, 0)
  t.equal(result.stdout, `${VERSION}\n`)
})

t.test('an unknown command or a missing argument exits 2 with the usage', async (t) => {
  for (const args of [['frobnicate'], ['hash-key', 'one', 'two']]) {
    const result = await runCli(args)
    t.equal(result.code, 2, args.join(' '))
    t.match(result.stderr, `tollgate: unknown command or arguments: ${args.join(' ')}\nUsage:\n`)
    t.equal(result.stdout, '')
  }
})

t.test('serve --config with an invalid config exits 1 with every error and never listens', async (t) => {
  const dir = t.testdir({ 'bad.yml': BAD, 'other.yml': '' })
  const file = join(dir, 'bad.yml')
  // $TOLLGATE_CONFIG names another file: --config wins over it.
  const result = await runCli(['--config', file], { env: { TOLLGATE_CONFIG: join(dir, 'other.yml'), [PASSWORD_VAR]: undefined } })
  t.equal(result.code, 1)
  t.equal(result.stderr, `tollgate: cannot start, ${file} has ${BAD_ERRORS.length} error(s):\n${listed(BAD_ERRORS)}`)
  // Not one log line: the logger, the stores and the listeners all come after the config.
  t.equal(result.stdout, '')
})

t.test('serve reads $TOLLGATE_CONFIG without --config', async (t) => {
  const file = join(t.testdir({ 'from-env.yml': '' }), 'from-env.yml')
  const result = await runCli([], { env: { TOLLGATE_CONFIG: file } })
  t.equal(result.code, 1)
  t.equal(result.stderr, `tollgate: cannot start, ${file} has 1 error(s):\n  ${file}: the file is empty\n`)
})

t.test('serve defaults to ./config.yml in the working directory', async (t) => {
  const dir = t.testdir({ 'config.yml': '# being written\n' })
  const result = await runCli([], { cwd: dir, env: { TOLLGATE_CONFIG: undefined } })
  t.equal(result.code, 1)
  t.equal(result.stderr, 'tollgate: cannot start, config.yml has 1 error(s):\n  config.yml: the file is empty\n')
})

t.test('serve with a valid config listens (the control for the refusals above)', async (t) => {
  const tollgate = await startTollgate(t, { configYaml: GOOD })
  t.match(tollgate.proxyUrl, /^http:\/\/127\.0\.0\.1:\d+$/)
  const live = await get(`${tollgate.adminUrl}/health/live`)
  t.equal(live.status, 200)
})

t.test('an unknown option exits 2 with the usage', async (t) => {
  const result = await runCli(['--conifg', 'x.yml'])
  t.equal(result.code, 2)
  t.match(result.stderr, /^tollgate: Unknown option '--conifg'.*\nUsage:\n/s)
})

t.test('hash-key refuses a key no request could carry', async (t) => {
  for (const key of ['', 'has space', 'k'.repeat(257), 'caf\u00e9']) {
    const result = await runCli(['hash-key', key])
    t.equal(result.code, 2, JSON.stringify(key))
    t.equal(result.stdout, '')
    t.match(result.stderr, 'a key is 1 to 256 visible ASCII characters')
  }
})

t.test('a listen port in use exits 1, not 0', async (t) => {
  const blocker = createServer()
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve))
  t.teardown(() => blocker.close())
  const port = (blocker.address() as AddressInfo).port
  const dir = t.testdir({ 'config.yml': GOOD.replace('proxy: "127.0.0.1:0"', `proxy: "127.0.0.1:${port}"`) })
  const result = await runCli(['--config', join(dir, 'config.yml')])
  t.equal(result.code, 1)
  t.match(result.stdout, /"msg":"cannot listen"/)
  t.match(result.stdout, /EADDRINUSE/)
})
