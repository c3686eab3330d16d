import { register } from 'node:module'
import { FastifyOtelInstrumentation } from '@fastify/otel'
import { diag, DiagLogLevel, type DiagLogFunction } from '@opentelemetry/api'
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http'
import { PgInstrumentation } from '@opentelemetry/instrumentation-pg'
import { PinoInstrumentation } from '@opentelemetry/instrumentation-pino'
import { NodeSDK } from '@opentelemetry/sdk-node'
import { PrismaInstrumentation } from '@prisma/instrumentation'

/** Loaded only when traces are asked for (src/telemetry.ts); the SDK is nowhere else. */

const SERVICE_NAME = 'user-rpc'

/** Probes and scrapes would be most of the traces and say nothing about a call. */
const UNTRACED_PATHS = new Set(['/healthz', '/readyz', '/metrics'])
const untraced = (url: string | undefined) => UNTRACED_PATHS.has((url ?? '').split('?', 1)[0] ?? '')

/**
 * Prisma's own spans that say nothing a reader needs and cost a span each per query: building
 * the query (serialize, compile, microseconds of CPU), and its copy of each statement, which
 * pg's span below it says better (server, database, and BEGIN, which Prisma's does not show).
 */
const PRISMA_SPANS_LEFT_OUT = ['prisma:client:serialize', 'prisma:client:compile', 'prisma:client:db_query']

/**
 * Starts the OpenTelemetry SDK from the standard OTEL_* variables (exporter, endpoint,
 * protocol, sampler, batch processor, resource) with what this service needs traced:
 *
 * - HTTP: the server span, and the caller's traceparent/tracestate (W3C, the SDK's default
 *   propagators). The service calls nothing over HTTP, so outgoing requests are not watched.
 * - Fastify (@fastify/otel): the request and route-handler spans, registered on every
 *   Fastify instance as it is made, so app.ts needs no change; hooks get no spans of their own.
 * - Prisma: the transaction (start, each operation, commit or rollback); pg: each statement
 *   as sent, text with placeholders only (values are recorded only with
 *   enhancedDatabaseReporting, kept off: a login is personal data), and only inside a trace
 *   (the readiness probe's queries stay out).
 * - pino: trace_id and span_id on every log line written inside a span. Logs still go to
 *   stdout only, and metrics stay on GET /metrics: the SDK exports traces and nothing else.
 *
 * Export failures (a collector that is down) are logged as JSON lines like the service's own,
 * unless OTEL_LOG_LEVEL chooses the SDK's own diagnostics.
 */
export function startTracing (env: NodeJS.ProcessEnv = process.env): NodeSDK {
  // pino and pg reach the app through `import`: the loader hook lets the instrumentations
  // wrap them as they load. Only those two are intercepted; everything else loads untouched.
  register('@opentelemetry/instrumentation/hook.mjs', import.meta.url, { data: { include: ['pg', 'pino'] } })

  if (env.OTEL_LOG_LEVEL === undefined) diag.setLogger(jsonLineLogger(), DiagLogLevel.WARN)

  const named = env.OTEL_SERVICE_NAME?.trim() || /(^|,)\s*service\.name\s*=/.test(env.OTEL_RESOURCE_ATTRIBUTES ?? '')
  const sdk = new NodeSDK({
    ...(named ? {} : { serviceName: SERVICE_NAME }),
    metricReaders: [],
    logRecordProcessors: [],
    instrumentations: [
      new HttpInstrumentation({
        disableOutgoingRequestInstrumentation: true,
        ignoreIncomingRequestHook: (request) => untraced(request.url),
      }),
      new FastifyOtelInstrumentation({
        registerOnInitialization: true,
        instrumentHooks: false,
        ignorePaths: (route) => untraced(route.url),
      }),
      new PrismaInstrumentation({ ignoreSpanTypes: PRISMA_SPANS_LEFT_OUT }),
      new PgInstrumentation({ enhancedDatabaseReporting: false, requireParentSpan: true }),
      new PinoInstrumentation({ disableLogSending: true }),
    ],
  })
  sdk.start()
  return sdk
}

/** One diagnostic argument as text; never throws (a logger that threw would fail the export path). */
function describe (arg: unknown): string {
  if (arg instanceof Error) return arg.message
  if (typeof arg === 'string') return arg
  try {
    return JSON.stringify(arg) ?? String(arg)
  } catch {
    return String(arg)
  }
}

/** The SDK's warnings and errors as pino-shaped JSON lines on stdout, beside the service's own. */
function jsonLineLogger () {
  const line = (level: number): DiagLogFunction => (message, ...args) => {
    const detail = args.map(describe).join(' ')
    process.stdout.write(JSON.stringify({ level, time: Date.now(), service: SERVICE_NAME, msg: `opentelemetry: ${message}${detail ? ` ${detail}` : ''}` }) + '\n')
  }
  const silent: DiagLogFunction = () => {}
  return { error: line(50), warn: line(40), info: silent, debug: silent, verbose: silent }
}
