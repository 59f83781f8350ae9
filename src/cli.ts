import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { isatty } from 'node:tty'
import { parseArgs } from 'node:util'
import { checkConfig } from './check-config'
import { loadConfigFile } from './config'
import { hashKey } from './hash-key'
import { usage } from './usage-cli'
import { messageOf } from './errors'

const USAGE = `Usage:
  tollgate [--config FILE]        serve (default config: ./config.yml, or $TOLLGATE_CONFIG)
  tollgate check-config FILE      validate FILE: exit 0 with a summary, or 1 with every error
  tollgate hash-key [KEY]         print the sha256 of KEY, for keys[].sha256 in config.yml;
                                  without KEY it reads one line from stdin (recommended: an
                                  argument shows in ps and in shell history):
                                  tollgate hash-key < key.txt, or type it at the prompt
  tollgate usage CLIENT [--admin URL]
                                  a client's use of each window, from a running tollgate's
                                  admin port (default $TOLLGATE_ADMIN_URL or
                                  http://127.0.0.1:9464; token in $TOLLGATE_ADMIN_TOKEN)
  tollgate --version | --help`

function version (): string {
  const pkg = JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as { version: string }
  return pkg.version
}

async function serve (configPath: string): Promise<void> {
  const loaded = await loadConfigFile(configPath, process.env)
  if (!loaded.ok) {
    process.stderr.write(`tollgate: cannot start, ${configPath} has ${loaded.errors.length} error(s):\n${loaded.errors.map((e) => `  ${e}`).join('\n')}\n`)
    process.exitCode = 1
    return
  }
  // Loaded here, not at the top: one-shot commands (check-config, hash-key) stay fast.
  const { start } = await import('./server')
  const started = await start({
    configPath,
    loaded,
    env: process.env,
    version: version(),
    interactive: isatty(0),
    memoryUsage: () => process.memoryUsage()
  })
  // A port in use: exit 1. Once listening (or draining), close-with-grace owns the exit code.
  if (started.status === 'failed') process.exitCode = 1
}

export async function main (argv: readonly string[]): Promise<void> {
  let parsed
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        config: { type: 'string', short: 'c' },
        admin: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'v' }
      }
    })
  } catch (error) {
    process.stderr.write(`tollgate: ${messageOf(error)}\n${USAGE}\n`)
    process.exitCode = 2
    return
  }
  const { values, positionals } = parsed
  const [command, ...rest] = positionals
  if (values.help === true) {
    process.stdout.write(USAGE + '\n')
  } else if (values.version === true) {
    process.stdout.write(version() + '\n')
  } else if (command === 'check-config' && rest.length === 1 && rest[0] !== undefined) {
    process.exitCode = await checkConfig(rest[0])
  } else if (command === 'hash-key' && rest.length <= 1) {
    process.exitCode = await hashKey(rest[0], {
      stdin: process.stdin,
      out: (text) => { process.stdout.write(text) },
      err: (text) => { process.stderr.write(text) }
    })
  } else if (command === 'usage' && rest.length === 1 && rest[0] !== undefined) {
    process.exitCode = await usage(rest[0], {
      adminUrl: values.admin ?? process.env.TOLLGATE_ADMIN_URL ?? 'http://127.0.0.1:9464',
      token: process.env.TOLLGATE_ADMIN_TOKEN,
      out: (text) => { process.stdout.write(text) },
      err: (text) => { process.stderr.write(text) }
    })
  } else if (command === undefined || command === 'serve') {
    await serve(values.config ?? process.env.TOLLGATE_CONFIG ?? 'config.yml')
  } else {
    process.stderr.write(`tollgate: unknown command or arguments: ${argv.join(' ')}\n${USAGE}\n`)
    process.exitCode = 2
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((error: unknown) => {
    process.stderr.write(`tollgate: ${messageOf(error)}\n`)
    process.exitCode = 1
  })
}
