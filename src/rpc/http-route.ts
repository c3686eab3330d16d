import { isUtf8 } from 'node:buffer'
import { STATUS_CODES } from 'node:http'
import type { Socket } from 'node:net'
import type { FastifyError, FastifyPluginAsync, FastifyReply } from 'fastify'
import { ErrorCode, HttpRpcError, RpcError } from './errors.js'
import { PARSE_FAILED, type RpcServer } from './rpc-server.js'

export interface RpcRouteOptions {
  rpc: RpcServer
  path: string
  bodyLimit: number
}

/**
 * The HTTP face of JSON-RPC: POST with application/json only. Every JSON-RPC answer is
 * HTTP 200 (204 when there is nothing to send); transport failures (405, 413, 415, and
 * HttpRpcErrors thrown by the scope's hooks, such as 429) keep their status but still carry
 * a JSON-RPC error body with `id: null`, so a generic client can read them. Who is calling (`request.caller`)
 * and where its reads may go (`request.consistency`) are decided by the hooks of the
 * enclosing scope (API keys, rate limits, X-Consistency), as is the
 * call's `request.idempotencyKey` (the Idempotency-Key header).
 */
export const rpcRoute: FastifyPluginAsync<RpcRouteOptions> = async (app, options) => {
  const { rpc, path, bodyLimit } = options

  // Only JSON reaches the handler; anything else is 415. A body that is not JSON is a JSON-RPC
  // parse error, not Fastify's 400.
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('application/json', { parseAs: 'buffer', bodyLimit }, (_request, body, done) => {
    done(null, parseJsonBody(body as Buffer))
  })

  app.setErrorHandler((error: FastifyError | HttpRpcError, request, reply) => {
    if (error instanceof HttpRpcError) return sendError(reply, error.statusCode, error)
    const status = (error as FastifyError).statusCode ?? 500
    if (status === 413) {
      return sendError(reply, 413, new RpcError(ErrorCode.InvalidRequest, 'Request body too large', { reason: `the body is over ${bodyLimit} bytes` }))
    }
    if (status === 415) {
      return sendError(reply, 415, new RpcError(ErrorCode.InvalidRequest, 'Unsupported Media Type: send Content-Type: application/json', { reason: 'the content type must be application/json' }))
    }
    if (status >= 400 && status < 500) {
      return sendError(reply, status, new RpcError(ErrorCode.InvalidRequest, 'Invalid Request'))
    }
    request.log.error({ err: error }, 'rpc route failed')
    return sendError(reply, 500, new RpcError(ErrorCode.InternalError, 'Internal error'))
  })

  app.post(path, { bodyLimit }, async (request, reply) => {
    const answer = await rpc.handle(request.body, { log: request.log, caller: request.caller, consistency: request.consistency, idempotencyKey: request.idempotencyKey })
    if (answer === null) return reply.code(204).send()
    return reply.code(200).type('application/json; charset=utf-8').send(answer)
  })

  app.route({
    method: ['GET', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'],
    url: path,
    handler: async (_request, reply) =>
      sendError(reply, 405, new RpcError(ErrorCode.InvalidRequest, 'Method Not Allowed: use POST', { reason: 'the HTTP method must be POST' }), { allow: 'POST' }),
  })
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
 * The server's `clientErrorHandler`: a request Node cannot read (not received whole within
 * REQUEST_TIMEOUT_MS, headers too large, not HTTP) never reaches a route, so Fastify answers
 * it itself; this answers it the way the JSON-RPC route answers its own refusals, with the
 * status and a JSON-RPC error body (`id: null`), then closes the socket as Fastify does.
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

const BYTE_ORDER_MARK = 0xfeff

/**
 * A request body as JSON, or PARSE_FAILED. JSON text is UTF-8 (RFC 8259), so bytes that are
 * not are refused rather than decoded with U+FFFD in their place, which would store something
 * the caller never sent (the XML-RPC bridge decodes the same way). A leading byte order mark
 * is ignored, as the RFC allows.
 *
 * Every member name is kept, `__proto__` and `constructor` included: JSON.parse makes them
 * plain own properties and never sets a prototype, so they reach the params schemas, which
 * refuse them like any unknown name. Nothing downstream copies a caller's keys by assignment
 * (checkEnvelope picks members by name, parseParams builds positional params with
 * Object.fromEntries), so no prototype can be reached through them.
 */
function parseJsonBody (bytes: Buffer): unknown {
  if (!isUtf8(bytes)) return PARSE_FAILED
  let text = bytes.toString('utf8')
  if (text.charCodeAt(0) === BYTE_ORDER_MARK) text = text.slice(1)
  try {
    return JSON.parse(text)
  } catch {
    return PARSE_FAILED
  }
}

function sendError (reply: FastifyReply, status: number, error: RpcError, headers: Record<string, string> = {}) {
  return reply
    .code(status)
    .headers(headers)
    .type('application/json; charset=utf-8')
    .send(error.toResponse(null))
}
