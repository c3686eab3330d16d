import { isUtf8 } from 'node:buffer'
import type { FastifyPluginAsync } from 'fastify'
import { ErrorCode, RpcError } from './errors.js'
import { methodNotAllowed, type RefusalFormat } from './http-errors.js'
import { PARSE_FAILED, type RpcServer } from './rpc-server.js'

export interface RpcRouteOptions {
  rpc: RpcServer
  path: string
  bodyLimit: number
}

/** JSON-RPC's refusals: the status, and a JSON-RPC error object with `id: null` and its data. */
export const jsonRpcRefusals: RefusalFormat = {
  contentType: 'application/json; charset=utf-8',
  body: (error) => error.toResponse(null),
  unsupportedMediaType: new RpcError(ErrorCode.InvalidRequest, 'Unsupported Media Type: send Content-Type: application/json', { reason: 'the content type must be application/json' }),
}

/**
 * The HTTP face of JSON-RPC: POST with application/json only. Every JSON-RPC answer is
 * HTTP 200 (204 when there is nothing to send); transport failures (405, 413, 415, and
 * HttpRpcErrors thrown by the scope's hooks, such as 401 and 429) keep their status but still
 * carry a JSON-RPC error body with `id: null`, so a generic client can read them: the app's
 * error handler (http-errors.ts) writes them as `jsonRpcRefusals` says. Who is calling
 * (`request.caller`) and where its reads may go (`request.consistency`) are decided by the
 * hooks of the enclosing scope (API keys, rate limits, X-Consistency), as is the call's
 * `request.idempotencyKey` (the Idempotency-Key header).
 */
export const rpcRoute: FastifyPluginAsync<RpcRouteOptions> = async (app, options) => {
  const { rpc, path, bodyLimit } = options

  // Only JSON reaches the handler; anything else is 415. A body that is not JSON is a JSON-RPC
  // parse error, not Fastify's 400.
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('application/json', { parseAs: 'buffer', bodyLimit }, (_request, body, done) => {
    done(null, parseJsonBody(body as Buffer))
  })

  app.post(path, { bodyLimit, config: { refusals: jsonRpcRefusals } }, async (request, reply) => {
    const answer = await rpc.handle(request.body, { log: request.log, caller: request.caller, consistency: request.consistency, idempotencyKey: request.idempotencyKey })
    if (answer === null) return reply.code(204).send()
    return reply.code(200).type('application/json; charset=utf-8').send(answer)
  })

  app.route({
    method: ['GET', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'],
    url: path,
    config: { refusals: jsonRpcRefusals },
    handler: async (_request, reply) => {
      reply.header('allow', 'POST')
      throw methodNotAllowed()
    },
  })
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
