import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'

/**
 * A stand-in OTLP/HTTP collector for the `allowed-traced` row: reads each export and
 * answers 200 with an empty body (an empty ExportTraceServiceResponse), so the row
 * measures what tracing costs tollgate, not a collector. Prints `LISTENING <port>`.
 */
const server = createServer((req, res) => {
  req.resume()
  req.once('end', () => { res.writeHead(200, { 'content-type': 'application/x-protobuf', 'content-length': '0' }).end() })
})
server.keepAliveTimeout = 65_000

server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`LISTENING ${(server.address() as AddressInfo).port}\n`)
})
