import { execFile } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { builtinModules } from 'node:module'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import t from 'tap'
import ts from 'typescript'
import { at } from '../helpers/at'
import { startTollgate } from '../helpers/child'
import { REPO_ROOT } from '../helpers/spawn-ts'
import { deadPort } from '../helpers/upstream'

// The Dockerfile, read the way the builder reads it (continuation lines joined,
// comments dropped, one instruction per line, stages split at FROM), checked for what
// the image must do; and its HEALTHCHECK command run for real against a tollgate.
// No Docker engine runs here (nor in CI), so the image itself is never built: what
// the build would copy and run is checked against the repository instead.

interface Instruction { keyword: string, args: string, line: number }
interface Stage { from: string, name?: string, instructions: Instruction[] }

const read = (path: string): string => readFileSync(join(REPO_ROOT, path), 'utf8')

function instructions (text: string): Instruction[] {
  const found: Instruction[] = []
  let pending = ''
  let start = 0
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim()
    // A comment line is dropped even inside a continued instruction, as the builder does.
    if (line.startsWith('#') || (line === '' && pending === '')) return
    if (pending === '') start = i + 1
    if (line.endsWith('\\')) {
      pending += line.slice(0, -1) + ' '
      return
    }
    const whole = (pending + line).trim()
    pending = ''
    const match = /^(\S+)\s*(.*)$/.exec(whole)
    if (match !== null) found.push({ keyword: at(match, 1).toUpperCase(), args: at(match, 2), line: start })
  })
  return found
}

function stages (all: Instruction[]): Stage[] {
  const result: Stage[] = []
  for (const instruction of all) {
    if (instruction.keyword === 'FROM') {
      const words = instruction.args.split(/\s+/).filter((w) => !w.startsWith('--'))
      const as = words.findIndex((w) => w.toUpperCase() === 'AS')
      result.push({ from: at(words, 0), name: as === -1 ? undefined : words[as + 1], instructions: [] })
    } else if (result.length > 0) {
      at(result, -1).instructions.push(instruction)
    }
  }
  return result
}

/** The JSON array of an exec-form instruction, or undefined for the shell form. */
function execForm (args: string): string[] | undefined {
  if (!args.startsWith('[')) return undefined
  const parsed: unknown = JSON.parse(args)
  if (!Array.isArray(parsed) || !parsed.every((a) => typeof a === 'string')) throw new Error(`not a JSON array of strings: ${args}`)
  return parsed
}

const all = instructions(read('Dockerfile'))
const build = at(stages(all), 0)
const runtime = at(stages(all), 1)
const inRuntime = (keyword: string): Instruction[] => runtime.instructions.filter((i) => i.keyword === keyword)
const only = (keyword: string): Instruction => {
  const found = inRuntime(keyword)
  if (found.length !== 1) throw new Error(`the runtime stage has ${found.length} ${keyword} instructions, expected 1`)
  return at(found, 0)
}

/** `--interval=10s ... CMD ["node", ...]` → the options and the command. */
function healthcheck (): { options: Record<string, string>, command: string[] } {
  const match = /^((?:--\S+\s+)*)CMD\s+(.*)$/.exec(only('HEALTHCHECK').args)
  if (match === null) throw new Error('HEALTHCHECK is not `HEALTHCHECK [OPTIONS] CMD ...`')
  const options = Object.fromEntries(at(match, 1).trim().split(/\s+/).filter(Boolean).map((o) => o.replace(/^--/, '').split('=') as [string, string]))
  const command = execForm(at(match, 2))
  if (command === undefined) throw new Error(`HEALTHCHECK CMD is in shell form: ${at(match, 2)}`)
  return { options, command }
}

t.test('two stages: build with dev dependencies, runtime with production ones only', async (t) => {
  t.equal(stages(all).length, 2, 'two FROM')
  t.equal(build.name, 'build', 'the first stage is named build')
  for (const stage of [build, runtime]) {
    t.match(stage.from, /^node:(22|24)(\.\d+)*-bookworm-slim$/, `${stage.name ?? 'a stage'} is FROM a current Node LTS, slim`)
  }
  const buildRuns = build.instructions.filter((i) => i.keyword === 'RUN').map((i) => i.args)
  t.ok(buildRuns.some((r) => /npm ci\b/.test(r) && !/--omit=dev/.test(r)), 'build: npm ci with dev dependencies')
  t.ok(buildRuns.some((r) => /npm run build\b/.test(r)), 'build: npm run build')

  const runtimeRuns = inRuntime('RUN').map((i) => i.args)
  t.ok(runtimeRuns.some((r) => /npm ci\b.*--omit=dev/.test(r) && /--ignore-scripts/.test(r)),
    'runtime: npm ci --omit=dev --ignore-scripts (prepare would run tsc, a dev dependency)')
  t.ok(inRuntime('COPY').some((i) => /^--from=build\s+\/app\/dist\s+\.\/dist$/.test(i.args)), 'runtime: dist/ copied from the build stage')
  t.same(inRuntime('ENV').map((i) => i.args).filter((a) => a.startsWith('NODE_ENV')), ['NODE_ENV=production'], 'NODE_ENV=production')
  t.same(inRuntime('WORKDIR').map((i) => i.args), ['/app'], 'WORKDIR /app, as in the build stage')
})

t.test('runs as a non-root user, numeric for runAsNonRoot', async (t) => {
  const user = only('USER').args
  t.match(user, /^[0-9]+(:[0-9]+)?$/, 'numeric USER')
  t.not(user.split(':')[0], '0', 'not root')
  const userAt = runtime.instructions.findIndex((i) => i.keyword === 'USER')
  t.ok(runtime.instructions.slice(userAt).every((i) => i.keyword !== 'RUN'), 'nothing RUNs after USER (installs happen as root, before it)')
})

t.test('tini is PID 1 and runs node itself with the mounted config', async (t) => {
  t.ok(inRuntime('RUN').some((i) => /apt-get install\b.*\btini\b/.test(i.args)), 'tini installed in the runtime stage')
  t.same(execForm(only('ENTRYPOINT').args), ['/usr/bin/tini', '--'], 'ENTRYPOINT ["/usr/bin/tini", "--"]')
  t.same(execForm(only('CMD').args), ['node', 'bin/tollgate.js', '--config', '/etc/tollgate/config.yml'], 'exec-form CMD with node, never npm')
  t.notOk(all.some((i) => /npm (start|run start)/.test(i.args)), 'npm start appears nowhere')
})

t.test('runtime: the .proto files the gRPC service loads at run time', async (t) => {
  t.ok(inRuntime('COPY').some((i) => /^proto\s+\.\/proto$/.test(i.args)), 'proto/ copied beside dist/, where dist/grpc finds it')
})

t.test('EXPOSE the default proxy and admin ports', async (t) => {
  t.same(only('EXPOSE').args.split(/\s+/).sort(), ['8080', '9464'])
})

t.test('HEALTHCHECK: exec form, node\'s own fetch, /health/live on the admin port', async (t) => {
  const { options, command } = healthcheck()
  t.equal(command[0], 'node', 'runs node (slim images have no curl)')
  t.equal(command[1], '-e')
  t.match(command[2], /fetch\('http:\/\/127\.0\.0\.1:9464\/health\/live'\)/, 'fetches /health/live on 127.0.0.1:9464')
  t.match(options, { interval: /^\d+s$/, timeout: /^\d+s$/, 'start-period': /^\d+s$/, retries: /^\d+$/ }, 'interval, timeout, start period and retries set')
})

// The command as the image runs it, with only the address changed to the test's.
async function runHealthcheck (adminHostPort: string): Promise<{ code: number | null, stderr: string }> {
  const { command } = healthcheck()
  const script = at(command, 2)
  if (script.split('127.0.0.1:9464').length !== 2) throw new Error(`expected one 127.0.0.1:9464 in the HEALTHCHECK script: ${script}`)
  const args = [at(command, 1), script.replace('127.0.0.1:9464', adminHostPort)]
  return await new Promise((resolve) => {
    execFile(process.execPath, args, { timeout: 10_000 }, (error, _stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : null, stderr })
    })
  })
}

t.test('the HEALTHCHECK command, run for real', async (t) => {
  t.test('exits 0 against a live tollgate', async (t) => {
    const tollgate = await startTollgate(t, {
      configYaml: 'listen: { proxy: 127.0.0.1:0, admin: 127.0.0.1:0 }\nplans:\n  free: [ { max: 5, per: 1s } ]\n'
    })
    const result = await runHealthcheck(new URL(tollgate.adminUrl).host)
    t.equal(result.code, 0, 'exit 0', { stderr: result.stderr })
  })

  t.test('exits non-zero when nothing listens', async (t) => {
    const result = await runHealthcheck(`127.0.0.1:${await deadPort()}`)
    t.not(result.code, 0, 'non-zero exit')
    t.not(result.code, null, 'it exits by itself, without being killed for a timeout')
  })

  t.test('exits non-zero on a 503', async (t) => {
    const server = createServer((_req, res) => { res.writeHead(503).end() })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    t.teardown(() => { server.close() })
    const result = await runHealthcheck(`127.0.0.1:${(server.address() as AddressInfo).port}`)
    t.equal(result.code, 1, 'exit 1')
  })
})

// ---------------------------------------------------------------------------------
// What the build copies: .dockerignore must let it through, and keep the rest out.

/** Docker's .dockerignore matching, enough for this file: `*`, `**`, `!`, last match wins. */
function ignored (patterns: string[], path: string): boolean {
  let result = false
  for (const raw of patterns) {
    const negate = raw.startsWith('!')
    const pattern = (negate ? raw.slice(1) : raw).replace(/^\/+|\/+$/g, '')
    const regex = new RegExp('^' + pattern.split('/').map((part) => part === '**'
      ? '.*'
      : part.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]')).join('/') + '(/.*)?$')
    if (regex.test(path)) result = !negate
  }
  return result
}

function files (dir: string): string[] {
  return readdirSync(join(REPO_ROOT, dir)).flatMap((name) => {
    const path = `${dir}/${name}`
    return statSync(join(REPO_ROOT, path)).isDirectory() ? files(path) : [path]
  })
}

t.test('.dockerignore keeps out local builds and state, and lets in what COPY needs', async (t) => {
  const patterns = read('.dockerignore').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'))
  const sources = all
    .filter((i) => i.keyword === 'COPY' && !i.args.startsWith('--from'))
    .flatMap((i) => i.args.split(/\s+/).slice(0, -1))
  t.ok(sources.length > 0, `COPY sources: ${sources.join(', ')}`)
  for (const source of sources) {
    const path = source.replace(/^\.\//, '')
    t.notOk(ignored(patterns, path), `${path} reaches the build`)
    t.ok(existsSync(join(REPO_ROOT, path)), `${path} exists in the repository`)
  }
  for (const path of ['node_modules', 'dist', '.git', '.tap', 'test', 'bench', 'docs', 'deploy', 'examples', 'config.yml', 'Dockerfile', 'docker-compose.yml']) {
    t.ok(ignored(patterns, path), `${path} stays out of the build context`)
  }
})

// The runtime stage installs production dependencies only: whatever dist/ requires
// when it runs must be one of them. Compiled the way tsc compiles it, so imports used
// only as types (which tsc drops) do not count.
t.test('every package src/ requires at run time is a production dependency', async (t) => {
  const pkg = JSON.parse(read('package.json')) as { dependencies: Record<string, string> }
  const sources = files('src').filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
  const required = new Map<string, string>()
  for (const file of sources) {
    const { outputText } = ts.transpileModule(read(file), {
      compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
      fileName: file
    })
    for (const match of outputText.matchAll(/require\((["'])([^"']+)\1\)/g)) {
      const specifier = at(match, 2)
      if (specifier.startsWith('.') || specifier.startsWith('node:') || builtinModules.includes(specifier)) continue
      const name = specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : at(specifier.split('/'), 0)
      required.set(name, file)
    }
  }
  t.ok(required.size > 0, `packages required: ${[...required.keys()].join(', ')}`)
  for (const [name, file] of required) {
    t.ok(pkg.dependencies[name] !== undefined, `${name} (required by ${file}) is in dependencies`)
  }
})
