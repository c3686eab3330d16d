import type { FastifyPluginAsync } from 'fastify'
import { ErrorCode, RpcError } from '../rpc/errors.js'
import { methodNotAllowed, type RefusalFormat } from '../rpc/http-errors.js'
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

/** XML-RPC's refusals: the status, and a `<fault>` with the code and message (a fault has no data). */
export const xmlRpcRefusals: RefusalFormat = {
  contentType: XML,
  body: (error) => encodeFault(error.code, error.message),
  unsupportedMediaType: new RpcError(ErrorCode.InvalidRequest, 'Unsupported Media Type: send Content-Type: text/xml in UTF-8'),
}

/**
 * The HTTP face of the XML-RPC bridge, beside /rpc and inside the same scope, so the same
 * API keys, rate limits and body limit apply. POST with text/xml (or application/xml) in
 * UTF-8. Every XML-RPC answer is HTTP 200 with text/xml, faults included, as clients expect;
 * transport refusals (401, 405, 413, 415, 429) keep their status and carry a `<fault>` too,
 * written by the app's error handler as `xmlRpcRefusals` says.
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

  app.post(path, { bodyLimit, config: { refusals: xmlRpcRefusals } }, async (request, reply) => {
    const xml = await answer(request.body as Buffer, { log: request.log, caller: request.caller, transport: 'xmlrpc', consistency: request.consistency, idempotencyKey: request.idempotencyKey })
    return reply.code(200).type(XML).send(xml)
  })

  app.route({
    method: ['GET', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'],
    url: path,
    config: { refusals: xmlRpcRefusals },
    handler: async (_request, reply) => {
      reply.header('allow', 'POST')
      throw methodNotAllowed()
    },
  })
}
