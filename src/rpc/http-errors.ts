import { STATUS_CODES } from 'node:http'
import type { Socket } from 'node:net'
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { ErrorCode, HttpRpcError, internalError, RpcError } from './errors.js'

/**
 * How an RPC route writes a refusal (an answer with a status other than 200) in its own
 * protocol. The route carries it in its config (`config: { refusals }`), so the one error
 * handler answers each route in its protocol without knowing the protocols.
 */
export interface RefusalFormat {
  /** The refusal's Content-Type. */
  contentType: string
  /** The body that carries the error: a JSON-RPC error object (`id: null`), an XML-RPC fault. */
  body: (error: RpcError) => unknown
  /** What a 415 says: the content type the route reads. */
  unsupportedMediaType: RpcError
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Set on the RPC routes; unset (health, metrics, 404), errors are answered in plain JSON. */
    refusals?: RefusalFormat
  }
}

/** The RPC routes' answer to a method other than POST (with `Allow: POST`). */
export const methodNotAllowed = () =>
  new HttpRpcError(405, ErrorCode.InvalidRequest, 'Method Not Allowed: use POST', { reason: 'the HTTP method must be POST' })

/**
 * The app's one error handler, set before any route so that every route has it (a route takes
 * the handler in force when it is added). Whatever a hook, a body parser or a handler throws
 * ends here:
 * - on an RPC route, an HttpRpcError (401, 400, 429, 405 …) is sent as it is, Fastify's own
 *   refusals (413, 415, other 4xx) become -32600 with their status, anything else is 500 with
 *   -32603; all in the route's protocol (its `refusals`);
 * - on any other route, a 4xx passes its message (`{error}`), anything else is a generic 500.
 * A 5xx never carries its detail: that goes to the log.
 */
export function answerError (error: FastifyError | HttpRpcError, request: FastifyRequest, reply: FastifyReply) {
  const { refusals } = request.routeOptions.config
  const status = error.statusCode ?? 500
  if (refusals === undefined) {
    if (status < 500) return reply.code(status).send({ error: error.message })
    request.log.error({ err: error }, 'request failed')
    return reply.code(500).send({ error: 'Internal Server Error' })
  }
  let refusal = asRefusal(error, status, request.routeOptions.bodyLimit, refusals)
  if (refusal === undefined) {
    request.log.error({ err: error }, 'request failed')
    refusal = { status: 500, error: internalError() }
  }
  return reply.code(refusal.status).type(refusals.contentType).send(refusals.body(refusal.error))
}

/** The status and RPC error an RPC route answers `error` with; none for a failure of ours. */
function asRefusal (error: FastifyError | HttpRpcError, status: number, bodyLimit: number, refusals: RefusalFormat): { status: number, error: RpcError } | undefined {
  if (error instanceof HttpRpcError) return { status: error.statusCode, error }
  if (status === 413) return { status, error: new RpcError(ErrorCode.InvalidRequest, 'Request body too large', { reason: `the body is over ${bodyLimit} bytes` }) }
  if (status === 415) return { status, error: refusals.unsupportedMediaType }
  if (status >= 400 && status < 500) return { status, error: new RpcError(ErrorCode.InvalidRequest, 'Invalid Request') }
  return undefined
}

/** Node's errors for a request that cannot be read, and the status each gets. */
const CLIENT_ERROR_STATUS: Record<string, number> = {
  ERR_HTTP_REQUEST_TIMEOUT: 408,
  HPE_HEADER_OVERFLOW: 431,
}

/** The `reason` each of those answers gives, as the other refusals do. */
const CLIENT_ERROR_REASON: Record<number, string> = {
  400: 'the request is not valid HTTP',
  408: 'the request did not arrive whole within REQUEST_TIMEOUT_MS',
  431: 'the request headers are too large',
}

/**
 * The server's `clientErrorHandler`, the one refusal the error handler cannot give: a request
 * Node cannot read (not received whole within REQUEST_TIMEOUT_MS, headers too large, not HTTP)
 * never reaches a route, so there is no request, no route and no protocol to answer in. It is
 * answered as the JSON-RPC route answers its own refusals, with the status and a JSON-RPC
 * error body (`id: null`), then the socket is closed as Fastify does.
 */
export function answerClientError (error: Error & { code?: string }, socket: Socket) {
  if (error.code === 'ECONNRESET' || socket.destroyed) return
  const status = CLIENT_ERROR_STATUS[error.code ?? ''] ?? 400
  const reason = STATUS_CODES[status] ?? 'Bad Request'
  const body = JSON.stringify(new RpcError(ErrorCode.InvalidRequest, reason, { reason: CLIENT_ERROR_REASON[status] }).toResponse(null))
  if (socket.writable) {
    socket.write(`HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`)
  }
  socket.destroy()
}
