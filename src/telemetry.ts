/**
 * The process's first module: `node --import ./dist/telemetry.js dist/server.js` (npm start,
 * the image's entrypoint, the tests and the benchmark start the service so; cluster workers
 * inherit the flag). It must run before the app's modules are loaded, so the instrumentations
 * can wrap pg and pino as they load, hence a preload and not an import in server.ts.
 *
 * Tracing is configured by OpenTelemetry's own variables only (docs/observability.md). When
 * none of them asks for traces, this module loads nothing else.
 */
import { tracesRequested } from './tracing/traces-requested.js'

if (tracesRequested(process.env)) {
  const { startTracing } = await import('./tracing/start-tracing.js')
  startTracing()
}
