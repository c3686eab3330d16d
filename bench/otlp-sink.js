// @ts-check
/**
 * A local OTLP/HTTP receiver for measuring tracing's cost: it takes every export (any
 * encoding) and answers 200 at once, as a collector on the same host would, so the service
 * pays for making and sending spans and nothing else. Run it beside the benchmark:
 *
 *   node bench/otlp-sink.js 4318 &
 *   BENCH_TARGETS=service-lever,service BENCH_LEVER_ENV="OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318" npm run bench
 *
 * On SIGTERM or SIGINT it prints what it received (exports, spans are not decoded) and exits.
 */
import { createServer } from 'node:http'

const port = Number(process.argv[2] ?? 4318)
let exports = 0
let bytes = 0
const server = createServer((request, response) => {
  request.on('data', (chunk) => { bytes += chunk.length })
  request.on('end', () => {
    exports++
    response.writeHead(200, { 'content-type': request.headers['content-type'] ?? 'application/x-protobuf' }).end()
  })
})
server.listen(port, '127.0.0.1', () => process.stderr.write(`otlp-sink: listening on http://127.0.0.1:${port}\n`))
for (const signal of /** @type {const} */ (['SIGTERM', 'SIGINT'])) {
  process.once(signal, () => {
    process.stderr.write(`otlp-sink: ${exports} exports, ${Math.round(bytes / 1024)} KiB\n`)
    process.exit(0)
  })
}
