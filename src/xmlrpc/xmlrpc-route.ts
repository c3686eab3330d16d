import type { FastifyError, FastifyPluginAsync, FastifyReply } from 'fastify'
import { ErrorCode, HttpRpcError } from '../rpc/errors.js'
import type { RpcServer } from '../rpc/rpc-server.js'
import { createXmlRpcBridge } from './bridge.js'
import { encodeFault } from './method-response.js'

export interface XmlRpcRouteOptions {
  rpc: RpcServer
  path: string
  bodyLimit: number
}

const XML = 'text/xml; charset=utf-8'
const CHARSET = /;\s*charset\s*=\s*"?([^";\s]+)/i

/**
 * The HTTP face of the XML-RPC bridge, beside /rpc and inside the same scope, so the same
 * API keys, rate limits and body limit apply. POST with text/xml (or application/xml) in
 * UTF-8. Every XML-RPC answer is HTTP 200 with text/xml, faults included, as clients expect;
 * transport refusals (401, 405, 413, 415, 429) keep their status and carry a `<fault>` too:
 * the hooks of the scope (API keys, rate limits) throw them, and this route's error handler
 * writes them.
 * Registered only when XMLRPC_PATH is set: unset, none of this exists.
 */
export const xmlRpcRoute: FastifyPluginAsync<XmlRpcRouteOptions> = async (app, { rpc, path, bodyLimit }) => {
  const answer = createXmlRpcBridge(rpc)

  // The bytes go to the bridge as they came: it decodes them strictly as UTF-8 itself.
  app.removeAllContentTypeParsers()
  app.addContentTypeParser(['text/xml', 'application/xml'], { parseAs: 'buffer', bodyLimit }, (request, body, done) => {
    const charset = CHARSET.exec(request.headers['content-type'] ?? '')?.[1]
    if (charset !== undefined && !/^utf-?8$/i.test(charset)) {
      done(Object.assign(new Error('charset must be utf-8'), { statusCode: 415 }), undefined)
      return
    }
    done(null, body)
  })

  app.setErrorHandler((error: FastifyError | HttpRpcError, request, reply) => {
    if (error instanceof HttpRpcError) return sendFault(reply, error.statusCode, error.code, error.message)
    const status = (error as FastifyError).statusCode ?? 500
    if (status === 413) return sendFault(reply, 413, ErrorCode.InvalidRequest, 'Request body too large')
    if (status === 415) return sendFault(reply, 415, ErrorCode.InvalidRequest, 'Unsupported Media Type: send Content-Type: text/xml in UTF-8')
    if (status >= 400 && status < 500) return sendFault(reply, status, ErrorCode.InvalidRequest, 'Invalid Request')
    request.log.error({ err: error }, 'xmlrpc route failed')
    return sendFault(reply, 500, ErrorCode.InternalError, 'Internal error')
  })

  app.post(path, { bodyLimit }, async (request, reply) => {
    const xml = await answer(request.body as Buffer, { log: request.log, caller: request.caller, transport: 'xmlrpc', consistency: request.consistency, idempotencyKey: request.idempotencyKey })
    return reply.code(200).type(XML).send(xml)
  })

  app.route({
    method: ['GET', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'],
    url: path,
    handler: async (_request, reply) => {
      reply.header('allow', 'POST')
      return sendFault(reply, 405, ErrorCode.InvalidRequest, 'Method Not Allowed: use POST')
    },
  })
}

function sendFault (reply: FastifyReply, status: number, code: number, message: string) {
  return reply.code(status).type(XML).send(encodeFault(code, message))
}
