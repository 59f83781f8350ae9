import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { ConfigSchema, parseConfig } from '../src/config'
import { ERRORS } from '../src/errors'
import { at } from './helpers/at'
import { REPO_ROOT } from './helpers/spawn-ts'

// The README's tables are the users' reference: they must say what the code does.

const README = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8')

/** The text under `heading` (a whole line, e.g. `### Errors`), up to the next heading of its level or above. */
function section (heading: string): string {
  const lines = README.split('\n')
  const start = lines.indexOf(heading)
  if (start === -1) throw new Error(`README.md has no "${heading}" heading`)
  const level = heading.indexOf(' ')
  const end = lines.findIndex((line, i) => i > start && /^#+ /.test(line) && line.indexOf(' ') <= level)
  return lines.slice(start + 1, end === -1 ? undefined : end).join('\n')
}

type Row = [string, string, string]

/** The body rows of the first three-column table in `text` whose header row is `header`, as trimmed cells. */
function table (text: string, header: Row): Row[] {
  const rows = text.split('\n')
    .filter((line) => line.startsWith('|'))
    // `\|` is a pipe inside a cell.
    .map((line) => line.replace(/^\||\|$/g, '').split(/(?<!\\)\|/).map((cell) => cell.trim()))
  const start = rows.findIndex((cells) => cells.join('|') === header.join('|'))
  if (start === -1) throw new Error(`no table with the header | ${header.join(' | ')} |`)
  const body: Row[] = []
  for (const cells of rows.slice(start + 2)) {
    const [key, value, meaning, ...more] = cells
    if (key === undefined || value === undefined || meaning === undefined || more.length > 0) break
    body.push([key, value, meaning])
  }
  return body
}

/** Every `code span` in a cell. */
const spans = (cell: string): string[] => [...cell.matchAll(/`([^`]+)`/g)].map((m) => at(m, 1))

/** A value as the README writes it: strings bare, everything else as JSON. */
const written = (value: unknown): string => typeof value === 'string' ? value : JSON.stringify(value)

function valueAt (value: unknown, path: string): unknown {
  return path.split('.').reduce<unknown>((v, key) => (v as Record<string, unknown> | undefined)?.[key], value)
}

const MINIMAL = 'plans:\n  free: [ { max: 5, per: 1s } ]\n'
function filled (text: string): unknown {
  const result = parseConfig(text, {}, 'readme.yml')
  if (!result.ok) throw new Error(result.errors.join('\n'))
  return result.config
}

t.test('the error table matches ERRORS', async (t) => {
  const rows = table(section('### Errors'), ['code', 'status', 'when'])
  const documented = Object.fromEntries(rows.map(([code, status]) => [code.replace(/`/g, ''), Number(status)]))
  const inCode = Object.fromEntries(Object.entries(ERRORS).map(([code, { status }]) => [code, status]))
  t.strictSame(documented, inCode, 'same codes, same statuses')
  t.equal(rows.length, Object.keys(ERRORS).length, 'each code documented once')
  t.ok(rows.every(([, , when]) => when !== ''), 'each code says when')
})

t.test('the configuration table', async (t) => {
  const rows = table(section('## Configuration'), ['key', 'default', 'meaning'])
  const documented = rows.flatMap(([keys]) => spans(keys))
  const schema = ConfigSchema.properties as Record<string, { properties?: Record<string, unknown> }>

  t.test('lists every top-level key of the schema, and only those', async (t) => {
    const topLevel = [...new Set(documented.map((key) => key.split('.')[0]))].sort()
    t.strictSame(topLevel, Object.keys(schema).sort())
  })

  t.test('every dotted key is a field of the schema', async (t) => {
    for (const key of documented.filter((k) => k.includes('.'))) {
      const [top, field] = [at(key.split('.'), 0), at(key.split('.'), 1)]
      t.ok(schema[top]?.properties?.[field] !== undefined, key)
    }
  })

  t.test('the documented defaults are the ones parseConfig fills in', async (t) => {
    const config = filled(MINIMAL)
    const checked: string[] = []
    for (const [keysCell, defaultCell] of rows) {
      const keys = spans(keysCell)
      if (defaultCell === 'required') {
        const result = parseConfig('shadow: false\n', {}, 'readme.yml')
        for (const key of keys) t.ok(!result.ok && result.errors.includes(`${key}: is required`), `${key} is required`)
      } else if (defaultCell.startsWith('none')) {
        for (const key of keys) t.equal(valueAt(config, key), undefined, `${key}: none`)
      } else {
        const values = spans(defaultCell)
        t.equal(values.length, keys.length, `one default per key in the ${keys.join(', ')} row`)
        keys.forEach((key, i) => {
          t.equal(written(valueAt(config, key)), values[i], `${key}: ${values[i]}`)
          checked.push(key)
        })
      }
    }
    // The table must keep a default for each of these: a row dropped is a test failed.
    const mustDocument = ['listen.proxy', 'listen.admin', 'on_redis_error', 'trust_proxy', 'log_level', 'api_key.header',
      'api_key.unknown', 'algorithm', 'shadow', 'shutdown.grace', 'shutdown.drain_delay', 'keys', 'routes']
    t.strictSame(mustDocument.filter((key) => !checked.includes(key)), [], 'every default is documented')
  })

  t.test('the timeouts documented for upstream and redis are the defaults', async (t) => {
    const config = filled(`${MINIMAL}upstream: http://127.0.0.1:3000\nredis: redis://127.0.0.1:6379\n`)
    for (const key of ['upstream', 'redis']) {
      const row = rows.find(([keys]) => spans(keys).includes(key))
      const match = row === undefined ? null : /default `([^`]+)`/.exec(row[2])
      if (match === null) {
        t.fail(`the ${key} row names no timeout default`)
        continue
      }
      t.equal(valueAt(config, `${key}.timeout`), at(match, 1), `${key}.timeout: ${at(match, 1)}`)
    }
  })
})
