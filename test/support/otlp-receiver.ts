import { once } from 'node:events'
import { createServer, type IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import { gunzipSync } from 'node:zlib'

/**
 * An OTLP/HTTP trace receiver on 127.0.0.1, enough for the tests to see what a collector
 * would: POST /v1/traces with OTLP's JSON encoding (`http/json`), gzip or not, decoded into
 * flat spans. A protobuf body (`http/protobuf`) is accepted and counted, not decoded.
 */

export type AttributeValue = string | number | boolean | AttributeValue[] | undefined

export interface ReceivedSpan {
  traceId: string
  spanId: string
  /** Empty for a root span. */
  parentSpanId: string
  /** W3C tracestate as it came with the span's context ('' when none). */
  traceState: string
  /** When it started, in nanoseconds since the epoch (as a string: beyond 2^53). */
  startTimeUnixNano: string
  name: string
  /** OTLP's numbers: 1 internal, 2 server, 3 client. */
  kind: number
  attributes: Record<string, AttributeValue>
  /** 0 unset, 1 ok, 2 error. */
  status: { code: number, message?: string }
  /** The resource's attributes: service.name, process.pid... */
  resource: Record<string, AttributeValue>
  scope: string
  /** Each event's name and attributes (exceptions are recorded as events). */
  events: Array<{ name: string, attributes: Record<string, AttributeValue> }>
}

interface OtlpKeyValue { key: string, value: OtlpAnyValue }
interface OtlpAnyValue {
  stringValue?: string
  intValue?: number | string
  doubleValue?: number
  boolValue?: boolean
  arrayValue?: { values?: OtlpAnyValue[] }
  kvlistValue?: { values?: OtlpKeyValue[] }
  bytesValue?: string
}
interface OtlpSpan {
  traceId: string
  spanId: string
  parentSpanId?: string
  traceState?: string
  startTimeUnixNano?: string | number
  name: string
  kind?: number
  attributes?: OtlpKeyValue[]
  status?: { code?: number, message?: string }
  events?: Array<{ name: string, attributes?: OtlpKeyValue[] }>
}
interface OtlpTraceRequest {
  resourceSpans?: Array<{
    resource?: { attributes?: OtlpKeyValue[] }
    scopeSpans?: Array<{ scope?: { name?: string }, spans?: OtlpSpan[] }>
  }>
}

function decodeValue (value: OtlpAnyValue): AttributeValue {
  if (value.stringValue !== undefined) return value.stringValue
  if (value.intValue !== undefined) return Number(value.intValue)
  if (value.doubleValue !== undefined) return value.doubleValue
  if (value.boolValue !== undefined) return value.boolValue
  if (value.arrayValue) return (value.arrayValue.values ?? []).map(decodeValue)
  if (value.kvlistValue) return (value.kvlistValue.values ?? []).map((item) => `${item.key}=${String(decodeValue(item.value))}`)
  return value.bytesValue
}

const decodeAttributes = (list: OtlpKeyValue[] = []): Record<string, AttributeValue> =>
  Object.fromEntries(list.map((item) => [item.key, decodeValue(item.value)]))

/** OTLP JSON carries ids as hex; some encoders send base64 (the protobuf JSON mapping). */
const hexId = (id: string | undefined) => !id ? '' : /^[0-9a-f]+$/i.test(id) ? id.toLowerCase() : Buffer.from(id, 'base64').toString('hex')

function flatten (body: OtlpTraceRequest): ReceivedSpan[] {
  const spans: ReceivedSpan[] = []
  for (const resourceSpans of body.resourceSpans ?? []) {
    const resource = decodeAttributes(resourceSpans.resource?.attributes)
    for (const scopeSpans of resourceSpans.scopeSpans ?? []) {
      for (const span of scopeSpans.spans ?? []) {
        spans.push({
          traceId: hexId(span.traceId),
          spanId: hexId(span.spanId),
          parentSpanId: hexId(span.parentSpanId),
          traceState: span.traceState ?? '',
          startTimeUnixNano: String(span.startTimeUnixNano ?? ''),
          name: span.name,
          kind: span.kind ?? 0,
          attributes: decodeAttributes(span.attributes),
          status: { code: span.status?.code ?? 0, ...(span.status?.message ? { message: span.status.message } : {}) },
          resource,
          scope: scopeSpans.scope?.name ?? '',
          events: (span.events ?? []).map((event) => ({ name: event.name, attributes: decodeAttributes(event.attributes) })),
        })
      }
    }
  }
  return spans
}

async function readBody (request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of request) chunks.push(chunk as Buffer)
  const body = Buffer.concat(chunks)
  return request.headers['content-encoding'] === 'gzip' ? gunzipSync(body) : body
}

export interface OtlpReceiver {
  /** What OTEL_EXPORTER_OTLP_ENDPOINT is set to. */
  endpoint: string
  /** Every span decoded so far, in arrival order. */
  spans: ReceivedSpan[]
  /** Export requests received, by content type. */
  requests: Array<{ contentType: string, bytes: number }>
  /** Resolves with the spans once `done` says they are all there (polls as exports arrive). */
  waitFor: (what: string, done: (spans: ReceivedSpan[]) => boolean, timeoutMs?: number) => Promise<ReceivedSpan[]>
  close: () => Promise<void>
}

export async function startOtlpReceiver (): Promise<OtlpReceiver> {
  const spans: ReceivedSpan[] = []
  const requests: OtlpReceiver['requests'] = []
  const waiters = new Set<() => void>()
  const server = createServer((request, response) => {
    readBody(request).then((body) => {
      if (request.method !== 'POST' || request.url !== '/v1/traces') {
        response.writeHead(404).end()
        return
      }
      const contentType = request.headers['content-type'] ?? ''
      requests.push({ contentType, bytes: body.length })
      if (contentType.startsWith('application/json')) spans.push(...flatten(JSON.parse(body.toString('utf8')) as OtlpTraceRequest))
      response.writeHead(200, { 'content-type': contentType.startsWith('application/json') ? 'application/json' : 'application/x-protobuf' })
      response.end(contentType.startsWith('application/json') ? '{}' : '')
      for (const check of waiters) check()
    }, () => response.writeHead(400).end())
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo

  const waitFor: OtlpReceiver['waitFor'] = (what, done, timeoutMs = 20_000) => new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      waiters.delete(check)
      reject(new Error(`the receiver did not get ${what} within ${timeoutMs} ms; it has ${spans.length} spans: ${spans.map((span) => span.name).join(', ')}`))
    }, timeoutMs)
    const check = () => {
      if (!done(spans)) return
      clearTimeout(timer)
      waiters.delete(check)
      resolve(spans)
    }
    waiters.add(check)
    check()
  })

  return {
    endpoint: `http://127.0.0.1:${port}`,
    spans,
    requests,
    waitFor,
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
