import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { createContext } from '../../bench/context'
import { limitReqBlock, nginxInstalled, startNginx } from '../../bench/nginx'
import { parseOptions } from '../../bench/options'
import { Procs } from '../../bench/procs'

// The nginx row must measure a working proxy, and its CPU column its worker, not the idle master.

t.test('nginx forwards every key to the upstream, refuses none, and its worker is found', { skip: nginxInstalled() ? false : 'nginx is not installed' }, async (t) => {
  const keys: string[] = []
  const upstream = createServer((req, res) => {
    keys.push(String(req.headers['x-api-key']))
    res.end('from the upstream')
  })
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve))
  const procs = new Procs()
  const tmp = mkdtempSync(join(tmpdir(), 'bench-nginx-test-'))
  t.teardown(async () => {
    await procs.stopAll()
    upstream.close()
    rmSync(tmp, { recursive: true, force: true })
  })
  const { port } = upstream.address() as AddressInfo
  const ctx = createContext(parseOptions([]), procs, tmp)
  const nginx = await startNginx(ctx, 'nginx', (listen) => limitReqBlock(listen, new URL(`http://127.0.0.1:${port}`)))

  const statuses: number[] = []
  for (let i = 0; i < 20; i++) {
    const res = await fetch(`${nginx.url}/v1/items`, { headers: { 'x-api-key': `k${i % 2}` } })
    t.equal(await res.text(), 'from the upstream')
    statuses.push(res.status)
  }
  t.same(new Set(statuses), new Set([200]), '20 quick requests from 2 keys: limit_req refuses none')
  t.equal(keys.length, 20, 'each one reached the upstream')
  t.same(new Set(keys), new Set(['k0', 'k1']), 'with its key')
  const workers = nginx.workers()
  t.equal(workers.length, 1, 'one worker process')
  t.notOk(workers.includes(nginx.master.pid), 'the worker, not the master')
})
