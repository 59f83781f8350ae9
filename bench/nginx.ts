import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { freePort } from '../test/helpers/ports'
import type { BenchContext } from './context'
import { childPids } from './proc-stat'
import { waitForPort, type Child } from './procs'

/**
 * nginx as a rate-limiting proxy, the way Debian's package runs it, but as a child of
 * the bench: one worker, every path (pid, logs, temp dirs) inside a temp dir, and a
 * `limit_req` keyed by `x-api-key` at a rate no row reaches, so it checks every request
 * and refuses none.
 */

export const NGINX = '/usr/sbin/nginx'

export function nginxInstalled (): boolean {
  return existsSync(NGINX)
}

export function nginxConfig (dir: string, port: number, upstream: URL): string {
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
  limit_req_zone $http_x_api_key zone=k:10m rate=1000000r/s;
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
  }
}
`
}

export interface NginxChild {
  url: string
  master: Child
  /** The worker processes: what serves requests, so what the CPU column counts. */
  workers: () => number[]
}

export async function startNginx (ctx: BenchContext, upstreamUrl: string): Promise<NginxChild> {
  const dir = join(ctx.tmp, 'nginx')
  mkdirSync(dir)
  const port = await freePort()
  const conf = join(dir, 'nginx.conf')
  writeFileSync(conf, nginxConfig(dir, port, new URL(upstreamUrl)))
  const master = ctx.procs.start('nginx', NGINX, ['-p', dir, '-e', join(dir, 'error.log'), '-c', conf, '-g', 'daemon off; master_process on;'], {
    stdio: ['ignore', 'ignore', 'inherit']
  })
  await waitForPort(port, 20_000, master)
  return { url: `http://127.0.0.1:${port}`, master, workers: () => childPids(master.pid) }
}
