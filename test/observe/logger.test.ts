import t from 'tap'
import { createLogger } from '../../src/observe/logger'

// Every `err` is logged in one shape, and an error's own properties, where ioredis puts a
// failed command's arguments (an AUTH's password), never reach the line.

function logged (err: unknown): Record<string, unknown> {
  const lines: string[] = []
  const log = createLogger('info', { write: (line: string) => { lines.push(line) } })
  log.error({ err }, 'failed')
  const [line] = lines
  if (line === undefined) throw new Error('nothing logged')
  return JSON.parse(line) as Record<string, unknown>
}

t.test('an Error: type, message, code and stack, nothing else', async (t) => {
  const error = Object.assign(new Error('WRONGPASS invalid username-password pair'), {
    code: 'WRONGPASS',
    command: { name: 'auth', args: ['s3cret-redis-password'] },
    headers: { 'x-api-key': 'client-key-123' }
  })
  const line = logged(error)
  t.same(Object.keys(line.err as object).sort(), ['code', 'message', 'stack', 'type'])
  t.match(line.err, { type: 'Error', message: /^WRONGPASS/, code: 'WRONGPASS', stack: /logger\.test\.ts/ })
  const text = JSON.stringify(line)
  t.notOk(text.includes('s3cret-redis-password'), 'the command\'s arguments are not logged')
  t.notOk(text.includes('client-key-123'), 'nor a header')
})

t.test('an Error with a cause keeps the cause in its message and stack, as pino does', async (t) => {
  const line = logged(new Error('check failed', { cause: new Error('socket closed') }))
  t.match(line.err, { message: /check failed/, stack: /socket closed/ })
})

t.test('a thrown value that is not an object is logged as its text', async (t) => {
  t.same(logged('plain text').err, { message: 'plain text' })
  t.same(logged(42).err, { message: '42' })
})
