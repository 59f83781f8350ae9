'use strict'
// The demo app behind tollgate in docker-compose.yml and deploy/kubernetes/: plain
// node:http, no dependencies. It answers JSON that shows what tollgate told it (the
// caller's client name and plan), and GET /healthz for probes.
//
// PORT (default 3000; 0 picks a free one) and HOST (default 0.0.0.0) say where it
// listens: in a Kubernetes pod it listens on 127.0.0.1, so the only way in is through
// the tollgate sidecar. It logs one JSON line when it listens, with the address it got.
const http = require('node:http')

const port = Number(process.env.PORT ?? 3000)
const host = process.env.HOST ?? '0.0.0.0'

function json (res, status, body) {
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) })
  res.end(text)
}

const server = http.createServer((req, res) => {
  // The body is not needed; reading it lets the connection be reused.
  req.resume()
  req.on('error', () => {})
  req.once('end', () => {
    const path = (req.url ?? '/').split('?')[0]
    if (path === '/healthz') return json(res, 200, { status: 'ok' })
    json(res, 200, {
      message: 'hello from the demo app',
      method: req.method,
      path,
      // Set by tollgate from the API key; absent when the app is called directly.
      client: req.headers['x-tollgate-client'] ?? null,
      plan: req.headers['x-tollgate-plan'] ?? null,
      time: new Date().toISOString()
    })
  })
})

server.listen(port, host, () => {
  const address = server.address()
  process.stdout.write(JSON.stringify({ msg: 'demo app listening', url: `http://${address.address}:${address.port}` }) + '\n')
})

// As PID 1 in its container, Node gets no default SIGTERM/SIGINT handling: without these
// handlers `docker stop` would wait for its timeout and then SIGKILL.
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.once(signal, () => {
    server.close(() => process.exit(0))
    server.closeIdleConnections()
  })
}
