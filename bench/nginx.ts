import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { freePort } from '../test/helpers/ports'
import type { BenchContext } from './context'
import { childPids } from './proc-stat'
import { REPO_ROOT, waitForPort, type Child } from './procs'

/**
 * nginx the way Debian's package runs it, but as a child of the bench: one worker, every
 * path (pid, logs, temp dirs) inside a temp dir. Two shapes: a rate-limiting proxy with
 * `limit_req` keyed by `x-api-key` at a rate no row reaches (it checks every request and
 * refuses none), and the shipped auth_request example asking tollgate.
 */

export const NGINX = '/usr/sbin/nginx'

export function nginxInstalled (): boolean {
  return existsSync(NGINX)
}

/** The whole nginx.conf: one worker, every path inside `dir`, and `block` in `http { }`. */
export function nginxConfig (dir: string, block: string): string {
  return `# written by bench/nginx.ts
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log ${dir}/access.log;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
${block}
}
`
}

/** nginx as a rate-limiting proxy: `limit_req` keyed by `x-api-key`. */
export function limitReqBlock (port: number, upstream: URL): string {
  return `  limit_req_zone $http_x_api_key zone=k:10m rate=1000000r/s;
  limit_req_status 429;
  upstream app {
    server ${upstream.host};
    keepalive 64;
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      limit_req zone=k burst=1000000 nodelay;
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }`
}

/** nginx asking tollgate's decision API: the shipped auth_request example, its ports put in. */
export function authRequestBlock (port: number, upstream: URL, decision: URL): string {
  const example = readFileSync(join(REPO_ROOT, 'examples', 'nginx', 'tollgate-auth-request.conf'), 'utf8')
  return example
    .replace('server 127.0.0.1:8080;', `server ${decision.host};`)
    .replace('server 127.0.0.1:3000;', `server ${upstream.host};`)
    .replace('listen 80;', `listen 127.0.0.1:${port};`)
}

export interface NginxChild {
  url: string
  master: Child
  /** The worker processes: what serves requests, so what the CPU column counts. */
  workers: () => number[]
}

/** An nginx whose `http { }` holds `block(port)`, in `ctx.tmp/<name>`. */
export async function startNginx (ctx: BenchContext, name: string, block: (port: number) => string): Promise<NginxChild> {
  const dir = join(ctx.tmp, name)
  mkdirSync(dir)
  const port = await freePort()
  const conf = join(dir, 'nginx.conf')
  writeFileSync(conf, nginxConfig(dir, block(port)))
  const master = ctx.procs.start('nginx', NGINX, ['-p', dir, '-e', join(dir, 'error.log'), '-c', conf, '-g', 'daemon off; master_process on;'], {
    stdio: ['ignore', 'ignore', 'inherit']
  })
  await waitForPort(port, 20_000, master)
  return { url: `http://127.0.0.1:${port}`, master, workers: () => childPids(master.pid) }
}
