import { context, SpanKind, SpanStatusCode, trace, type Span, type SpanOptions } from '@opentelemetry/api'
import type { JSONRPCError, JSONRPCID } from 'json-rpc-2.0'

/**
 * One span per JSON-RPC call (batch members included, and the calls the XML-RPC bridge makes),
 * after OpenTelemetry's RPC conventions: named after the method, with `rpc.system` jsonrpc,
 * `rpc.method`, the request id, and on an error its code and message with the span's status
 * set to error (the older `rpc.jsonrpc.*` names and the newer `rpc.system.name` /
 * `rpc.response.status_code` / `error.type` both). The transaction and SQL spans nest below
 * it because the call runs inside it.
 *
 * Only @opentelemetry/api is used: without an SDK (tracing off) the tracer is a no-op, the
 * span does not record, and nothing here allocates beyond that one inert span. Nothing a
 * caller sent is recorded but the method name (when it is one of ours) and the id: no params,
 * no error data (a login is personal data), no exception text (a driver's may quote values).
 */

const tracer = trace.getTracer('user-rpc')

const SERVER: SpanOptions = { kind: SpanKind.SERVER }

/** What `rpc.method` says of a name that is not a method of ours (the conventions' word). */
export const UNKNOWN_METHOD = '_OTHER'

/**
 * Starts the span of one call. `method` is the name when it is ours, else UNKNOWN_METHOD (a
 * caller's free text is neither a span name nor an attribute). `id` is left out for a
 * notification and for a bridged XML-RPC call, whose id is the bridge's, not the caller's.
 */
export function startCallSpan (method: string, id: JSONRPCID | undefined, transport: string): Span {
  const span = tracer.startSpan(method, SERVER)
  if (!span.isRecording()) return span
  span.setAttribute('rpc.system', 'jsonrpc')
  span.setAttribute('rpc.system.name', 'jsonrpc')
  span.setAttribute('rpc.jsonrpc.version', '2.0')
  span.setAttribute('rpc.method', method)
  span.setAttribute('user_rpc.transport', transport)
  if (id !== undefined && id !== null && transport === 'jsonrpc') span.setAttribute('rpc.jsonrpc.request_id', String(id))
  return span
}

/** Runs `fn` with the span as the active one (so the transaction's spans are its children). */
export function withinCallSpan<A extends unknown[], R> (span: Span, fn: (...args: A) => R, ...args: A): R {
  if (!span.isRecording()) return fn(...args)
  return context.with(trace.setSpan(context.active(), span), fn, undefined, ...args)
}

/** Ends the span with the call's outcome: the error sent back, or none. */
export function endCallSpan (span: Span, error: JSONRPCError | undefined): void {
  if (error && span.isRecording()) {
    span.setAttribute('rpc.jsonrpc.error_code', error.code)
    span.setAttribute('rpc.jsonrpc.error_message', error.message)
    span.setAttribute('rpc.response.status_code', String(error.code))
    span.setAttribute('error.type', String(error.code))
    span.setStatus({ code: SpanStatusCode.ERROR, message: error.message })
  }
  span.end()
}
