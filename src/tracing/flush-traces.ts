import { setTimeout as sleep } from 'node:timers/promises'
import { trace, type ProxyTracerProvider, type TracerProvider } from '@opentelemetry/api'
import type { FastifyBaseLogger } from 'fastify'
import { tracesRequested } from './traces-requested.js'

/**
 * The process's side of tracing, through the API only (it never loads the SDK): whether an
 * SDK was registered, and its last export before the process exits. Spans wait in the batch
 * processor for up to OTEL_BSP_SCHEDULE_DELAY (5 s); close-with-grace ends the process with
 * process.exit as soon as the drain is done, so without this flush the last calls' spans
 * would never leave.
 */

/** Long enough for a collector on the same network; a collector that is down must not hold the exit. */
const FLUSH_TIMEOUT_MS = 3_000

interface Flushable extends TracerProvider {
  forceFlush: () => Promise<void>
}

/** The SDK's tracer provider behind the API's proxy, or undefined when tracing is off. */
function registeredProvider (): Flushable | undefined {
  const delegate = (trace.getTracerProvider() as ProxyTracerProvider).getDelegate?.()
  return delegate && typeof (delegate as Partial<Flushable>).forceFlush === 'function' ? delegate as Flushable : undefined
}

/** Exports the spans still waiting; bounded, and logged when the collector does not take them. */
export async function flushTraces (log: FastifyBaseLogger): Promise<void> {
  const provider = registeredProvider()
  if (!provider) return
  const timedOut = Symbol('timed out')
  const abort = new AbortController()
  const result = await Promise.race([
    provider.forceFlush().then(() => undefined, (error: Error) => error),
    sleep(FLUSH_TIMEOUT_MS, timedOut, { signal: abort.signal }),
  ])
  abort.abort()
  if (result === timedOut) {
    log.warn({ timeoutMs: FLUSH_TIMEOUT_MS }, 'traces not exported before exit: is the collector at OTEL_EXPORTER_OTLP_ENDPOINT (or _TRACES_ENDPOINT) reachable?')
  } else if (result instanceof Error) {
    log.warn({ reason: result.message }, 'traces not exported before exit: is the collector at OTEL_EXPORTER_OTLP_ENDPOINT (or _TRACES_ENDPOINT) reachable?')
  }
}

/**
 * OTEL_* variables ask for traces but no SDK was loaded: the process was started without the
 * preload (`node --import ./dist/telemetry.js dist/server.js`), and would trace nothing.
 */
export function tracesMissed (env: NodeJS.ProcessEnv): boolean {
  return tracesRequested(env) && registeredProvider() === undefined
}
