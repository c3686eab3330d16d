import type { JSONRPCRequest, JSONRPCResponse } from 'json-rpc-2.0'
import { ErrorCode, RpcError } from '../rpc/errors.js'
import type { RequestScope, RpcServer } from '../rpc/rpc-server.js'
import { introspect, isIntrospection } from './introspection.js'
import { readMethodCall, type XmlRpcCall } from './method-call.js'
import { encodeFault, encodeResponse } from './method-response.js'
import { parseXmlDocument, XmlRpcRefusal } from './xml-document.js'

/** XML-RPC has no ids; every call is answered, so each stands for a request with this one. */
const CALL_ID = 1

const DISCOVER: JSONRPCRequest = { jsonrpc: '2.0', method: 'rpc.discover', id: CALL_ID }

/**
 * The JSON-RPC request an XML-RPC call stands for. Params are positional, in the method's
 * declared order, as the old service took them; a single `<struct>` param is the named form
 * (`{user_id: 1}`), so every method can be called either way, as over JSON-RPC.
 */
function toJsonRpcRequest (call: XmlRpcCall): JSONRPCRequest {
  const [first] = call.params
  const named = call.params.length === 1 && typeof first === 'object' && first !== null && !Array.isArray(first)
  return { jsonrpc: '2.0', method: call.methodName, params: named ? first : call.params, id: CALL_ID }
}

/**
 * XML-RPC as a second encoding of the same calls: the body is decoded, turned into the
 * JSON-RPC request it stands for, and answered by the one RPC server (`rpc.handle`: method
 * table, params validation, keys' scopes, transaction, in-flight cap, metrics, log line,
 * drain). Its answer is encoded back: a result as `<params>`, an error as a `<fault>`. A
 * body that is not an XML-RPC call never reaches the server; its fault says why.
 */
export function createXmlRpcBridge (rpc: RpcServer) {
  async function callOne (request: JSONRPCRequest, scope: RequestScope): Promise<JSONRPCResponse> {
    const reply = await rpc.handle(request, scope)
    if (reply === null || Array.isArray(reply)) throw new Error('one request with an id must get one response')
    return reply
  }

  return async function answer (body: Uint8Array, scope: RequestScope): Promise<string> {
    let call: XmlRpcCall
    try {
      call = readMethodCall(parseXmlDocument(body))
    } catch (error) {
      if (!(error instanceof XmlRpcRefusal)) throw error
      scope.log.info({ transport: 'xmlrpc', outcome: error.code, reason: error.reason }, 'xmlrpc request refused')
      const kind = error.code === ErrorCode.ParseError ? 'Parse error' : 'Invalid Request'
      return encodeFault(error.code, `${kind}: ${error.reason}`)
    }

    const introspection = isIntrospection(call.methodName) ? call.methodName : undefined
    const reply = await callOne(introspection ? DISCOVER : toJsonRpcRequest(call), scope)
    if ('error' in reply && reply.error) return encodeFault(reply.error.code, reply.error.message)
    try {
      return encodeResponse(introspection ? introspect(introspection, call.params, reply.result) : reply.result)
    } catch (error) {
      if (error instanceof RpcError) return encodeFault(error.code, error.message)
      // Results are JSON the service made; one XML-RPC cannot carry is a bug, logged whole.
      scope.log.error({ err: error, rpcMethod: call.methodName, transport: 'xmlrpc' }, 'xmlrpc result could not be encoded')
      return encodeFault(ErrorCode.InternalError, 'Internal error')
    }
  }
}
