import type { FastifyError, FastifyPluginAsync, FastifyReply } from 'fastify'
import { ErrorCode, RpcError } from './errors.js'
import { PARSE_FAILED, type RpcServer } from './rpc-server.js'

export interface RpcRouteOptions {
  rpc: RpcServer
  path: string
  bodyLimit: number
}

/** An RpcError that ends the HTTP exchange with a status other than 200 (a hook's refusal). */
export class HttpRpcError extends RpcError {
  constructor (readonly statusCode: number, code: RpcError['code'], message: string, data?: unknown) {
    super(code, message, data)
  }
}

/**
 * The HTTP face of JSON-RPC: POST with application/json only. Every JSON-RPC answer is
 * HTTP 200 (204 when there is nothing to send); transport failures (405, 413, 415, and
 * HttpRpcErrors thrown by the scope's hooks, such as 429) keep their status but still carry
 * a JSON-RPC error body with `id: null`, so a generic client can read them. Who is calling (`request.caller`)
 * and where its reads may go (`request.consistency`) are decided by the hooks of the
 * enclosing scope (API keys, rate limits, X-Consistency).
 */
export const rpcRoute: FastifyPluginAsync<RpcRouteOptions> = async (app, options) => {
  const { rpc, path, bodyLimit } = options

  // Only JSON reaches the handler; anything else is 415. Bad JSON is a JSON-RPC parse error,
  // not Fastify's 400, and the default parser still strips __proto__/constructor keys.
  app.removeAllContentTypeParsers()
  const parseJson = app.getDefaultJsonParser('remove', 'remove')
  app.addContentTypeParser('application/json', { parseAs: 'string', bodyLimit }, (request, body, done) => {
    parseJson(request, body as string, (error, value) => done(null, error ? PARSE_FAILED : value))
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
    const answer = await rpc.handle(request.body, { log: request.log, caller: request.caller, consistency: request.consistency })
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

function sendError (reply: FastifyReply, status: number, error: RpcError, headers: Record<string, string> = {}) {
  return reply
    .code(status)
    .headers(headers)
    .type('application/json; charset=utf-8')
    .send(error.toResponse(null))
}
