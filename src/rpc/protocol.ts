import type { JSONRPCID, JSONRPCRequest } from 'json-rpc-2.0'

export type Envelope =
  | { valid: true, request: JSONRPCRequest }
  | { valid: false, id: JSONRPCID, reason: string }

const isId = (value: unknown): value is JSONRPCID =>
  typeof value === 'string' || (typeof value === 'number' && Number.isFinite(value)) || value === null

/**
 * Checks one request object against JSON-RPC 2.0 section 4 before the library sees it:
 * json-rpc-2.0 echoes object ids, lets `params: 5` through and throws on `null` members.
 * An invalid request is always answered; its id is echoed only when it is a valid id.
 */
export function checkEnvelope (value: unknown): Envelope {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { valid: false, id: null, reason: 'a request must be a JSON object' }
  }
  const candidate = value as Record<string, unknown>
  const hasId = Object.hasOwn(candidate, 'id')
  if (hasId && !isId(candidate.id)) {
    return { valid: false, id: null, reason: 'id must be a string, a number or null' }
  }
  const id = hasId ? candidate.id as JSONRPCID : null
  if (candidate.jsonrpc !== '2.0') return { valid: false, id, reason: 'jsonrpc must be exactly "2.0"' }
  if (typeof candidate.method !== 'string') return { valid: false, id, reason: 'method must be a string' }
  if (Object.hasOwn(candidate, 'params') && (typeof candidate.params !== 'object' || candidate.params === null)) {
    return { valid: false, id, reason: 'params must be an array or an object' }
  }
  if (Object.hasOwn(candidate, 'result') || Object.hasOwn(candidate, 'error')) {
    return { valid: false, id, reason: 'a request carries no result or error member' }
  }
  const request: JSONRPCRequest = { jsonrpc: '2.0', method: candidate.method }
  if (Object.hasOwn(candidate, 'params')) request.params = candidate.params
  if (hasId) request.id = id
  return { valid: true, request }
}
