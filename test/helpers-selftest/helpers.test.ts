import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { connect, createServer } from 'node:net'
import { join } from 'node:path'
import Redis from 'ioredis'
import t from 'tap'
import { pseudoRandomSha256, pseudoRandomStream } from '../helpers/bytes'
import { startTollgate } from '../helpers/child'
import { runCli } from '../helpers/run-cli'
import { get, post, postJson, rawRequest } from '../helpers/http'
import { freePort } from '../helpers/ports'
import { startRedis } from '../helpers/redis'
import { deadPort, startUpstream } from '../helpers/upstream'
import type { EchoBody } from '../helpers/upstream'

const FIXTURE = join(__dirname, 'fixtures', 'cli.ts')

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

const refused = async (port: number): Promise<boolean> => await new Promise((resolve) => {
  const socket = connect(port, '127.0.0.1')
  socket.once('connect', () => { socket.destroy(); resolve(false) })
  socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'))
})

const ping = async (url: string): Promise<string> => {
  const client = new Redis(url)
  try {
    return await client.ping()
  } finally {
    client.disconnect()
  }
}

t.test('freePort returns a bindable port', async (t) => {
  const port = await freePort()
  t.ok(port > 0 && port < 65536)
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
  await new Promise<void>((resolve) => server.close(() => resolve()))
})

t.test('redis: start, kill, restart', async (t) => {
  const redis = await startRedis(t)
  t.equal(redis.url, `redis://127.0.0.1:${redis.port}`)
  t.equal(await ping(redis.url), 'PONG')

  await redis.kill()
  t.ok(await refused(redis.port), 'connection refused after kill')

  await redis.restart()
  t.equal(await ping(redis.url), 'PONG')
})

t.test('redis: teardown kills the server', async (t) => {
  let port = 0
  await t.test('inner', async (t) => {
    port = (await startRedis(t)).port
  })
  t.ok(await refused(port), 'connection refused after teardown')
})

t.test('upstream routes', async (t) => {
  const up = await startUpstream(t)

  t.test('echo', async (t) => {
    const res = await post(`${up.url}/any/path?q=1`, 'hello', { 'x-test': 'yes' })
    t.equal(res.status, 200)
    const body = res.json() as EchoBody
    t.match(body, { method: 'POST', url: '/any/path?q=1', headers: { 'x-test': 'yes' }, bodyBytes: 5 })
    t.equal(body.bodySha256, createHash('sha256').update('hello').digest('hex'))
  })

  t.test('status', async (t) => {
    const res = await get(`${up.url}/status/503`)
    t.equal(res.status, 503)
    t.equal(res.headers['x-upstream'], 'yes')
    t.same(res.json(), { status: 503 })
    const empty = await get(`${up.url}/status/204`)
    t.equal(empty.status, 204)
    t.equal(empty.body, '')
  })

  t.test('slow', async (t) => {
    const start = Date.now()
    const res = await get(`${up.url}/slow/150`)
    t.ok(Date.now() - start >= 140)
    t.same(res.json(), { slow: 150 })
  })

  t.test('slow: a client that goes away is no error', async (t) => {
    const ac = new AbortController()
    setTimeout(() => ac.abort(), 50)
    await t.rejects(get(`${up.url}/slow/2000`, {}, { signal: ac.signal }))
  })

  t.test('bytes: streamed body matches x-sha256', async (t) => {
    const n = 5 * 1024 * 1024 + 123
    const res = await rawRequest(`${up.url}/bytes/${n}`)
    t.equal(res.statusCode, 200)
    t.equal(res.headers['content-type'], 'application/octet-stream')
    t.equal(res.headers['x-sha256'], pseudoRandomSha256(n))
    const hash = createHash('sha256')
    let bytes = 0
    for await (const chunk of res.body) {
      hash.update(chunk as Buffer)
      bytes += (chunk as Buffer).length
    }
    t.equal(bytes, n)
    t.equal(hash.digest('hex'), res.headers['x-sha256'])
  })

  t.test('headers', async (t) => {
    const res = await get(`${up.url}/headers`)
    t.same(res.headers['set-cookie'], ['a=1; Path=/', 'b=2; Path=/'])
    t.equal(res.headers['x-custom'], '1')
    t.equal(res.headers['keep-alive'], 'timeout=5')
    t.equal(res.headers.connection, 'keep-alive')
  })

  t.test('10 MB upload is hashed as it streams', async (t) => {
    const n = 10 * 1024 * 1024
    const res = await post(`${up.url}/upload`, pseudoRandomStream(n), { 'content-type': 'application/octet-stream' })
    t.match(res.json(), { bodyBytes: n, bodySha256: pseudoRandomSha256(n) })
  })

  t.test('postJson', async (t) => {
    const res = await postJson(`${up.url}/v1/check`, { key: 'k' })
    t.match(res.json(), { headers: { 'content-type': 'application/json' }, bodySha256: createHash('sha256').update('{"key":"k"}').digest('hex') })
  })

  t.test('requests are recorded', async (t) => {
    await get(`${up.url}/recorded`, { 'x-mark': 'm' })
    const last = up.requests.at(-1)
    t.match(last, { method: 'GET', url: '/recorded', headers: { 'x-mark': 'm' } })
    t.ok(last?.rawHeaders.includes('x-mark'))
  })
})

t.test('upstream: a custom handler comes first', async (t) => {
  const up = await startUpstream(t, {
    handle: (req, res) => {
      if (req.url !== '/custom') return false
      res.end('custom')
      return true
    }
  })
  t.equal((await get(`${up.url}/custom`)).body, 'custom')
  t.equal((await get(`${up.url}/status/201`)).status, 201)
})

t.test('upstream: close refuses connections; deadPort refuses', async (t) => {
  const up = await startUpstream(t)
  await up.close()
  await t.rejects(get(up.url), { code: 'ECONNREFUSED' })
  await t.rejects(get(`http://127.0.0.1:${await deadPort()}/`), { code: 'ECONNREFUSED' })
})

t.test('startTollgate with a fixture entry', async (t) => {
  const configYaml = 'listen: { proxy: 127.0.0.1:0, admin: 127.0.0.1:0 }\n'
  const gate = await startTollgate(t, { entry: FIXTURE, configYaml, env: { FIXTURE_ENV: 'set' } })
  t.match(gate.proxyUrl, /^http:\/\/127\.0\.0\.1:\d+$/)
  t.equal((await get(gate.proxyUrl)).body, 'proxy')
  t.equal((await get(gate.adminUrl)).body, 'admin')

  const loaded = await gate.waitForLog((l) => l.msg === 'config loaded')
  t.match(loaded, { bytes: configYaml.length, env: 'set', cwd: gate.dir })

  gate.signal('SIGTERM')
  t.same(await gate.exited, { code: 0, signal: null })
  t.ok(gate.logs().some((l) => l.msg === 'shutting down'))
  await t.rejects(gate.waitForLog((l) => l.msg === 'never', 1000), /exited \(code 0/)
})

t.test('startTollgate: writeConfig replaces the file', async (t) => {
  const gate = await startTollgate(t, { entry: FIXTURE, configYaml: 'a: 1\n' })
  await gate.writeConfig('b: 22\n')
  t.equal(await readFile(gate.configPath, 'utf8'), 'b: 22\n')
  await gate.writeConfig('c: 333\n', { inPlace: true })
  t.equal(await readFile(gate.configPath, 'utf8'), 'c: 333\n')
})

t.test('startTollgate: teardown kills the child', async (t) => {
  let pid = 0
  await t.test('inner', async (t) => {
    pid = (await startTollgate(t, { entry: FIXTURE, configYaml: 'x: 1\n' })).pid
    t.ok(alive(pid))
  })
  t.notOk(alive(pid))
})

t.test('startTollgate: no listening line fails with the output tail', async (t) => {
  await t.rejects(
    startTollgate(t, { entry: FIXTURE, configYaml: 'x: 1\n', args: ['--never-listen'], readyTimeoutMs: 8000 }),
    /no matching log line within 8000 ms[\s\S]*config loaded[\s\S]*stuck before listening/
  )
})

t.test('runCli', async (t) => {
  const ok = await runCli(['hash-key', 'demo-key'], { entry: FIXTURE })
  t.same(ok, {
    code: 0,
    signal: null,
    stdout: createHash('sha256').update('demo-key').digest('hex') + '\n',
    stderr: ''
  })

  const bad = await runCli(['fail', 'bad config'], { entry: FIXTURE })
  t.equal(bad.code, 1)
  t.equal(bad.stderr, 'error: bad config\n')

  await t.rejects(runCli(['hang'], { entry: FIXTURE, timeoutMs: 1500 }), /did not exit within 1500 ms/)
})
