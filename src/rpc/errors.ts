import { createJSONRPCErrorResponse, type JSONRPCErrorResponse, type JSONRPCID } from 'json-rpc-2.0'

/**
 * The service's error model: every error a client can see has one of these codes. The
 * codes are part of the API (README, OpenRPC document); never change one in place.
 */
export const ErrorCode = {
  ParseError: -32700,
  InvalidRequest: -32600,
  MethodNotFound: -32601,
  InvalidParams: -32602,
  InternalError: -32603,
  Unauthorized: -32001,
  Forbidden: -32003,
  NotFound: -32004,
  Conflict: -32009,
  TransactionConflict: -32010,
  Unavailable: -32011,
  IdempotencyKeyReused: -32012,
  VersionMismatch: -32013,
  RateLimited: -32029,
} as const

export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode]

/**
 * Codes that say the call did nothing (its transaction rolled back) and may succeed if sent
 * again. The client package's RETRYABLE_CODES is generated from this (npm run generate:client).
 */
export const retryableCodes: readonly ErrorCodeValue[] = [ErrorCode.TransactionConflict, ErrorCode.Unavailable]

/** What the OpenRPC document says of each code. */
export const errorDescriptions: Record<ErrorCodeValue, string> = {
  [ErrorCode.ParseError]: 'Parse error: the body is not valid JSON',
  [ErrorCode.InvalidRequest]: 'Invalid Request: not a JSON-RPC 2.0 request object (data says what is wrong)',
  [ErrorCode.MethodNotFound]: 'Method not found',
  [ErrorCode.InvalidParams]: 'Invalid params: data.issues names every bad field',
  [ErrorCode.InternalError]: 'Internal error: logged on the server, nothing internal is returned',
  [ErrorCode.Unauthorized]: 'Unauthorized: missing or invalid API key',
  [ErrorCode.Forbidden]: 'Forbidden: the API key may not call this method',
  [ErrorCode.NotFound]: 'Not found',
  [ErrorCode.Conflict]: 'Conflict with existing data',
  [ErrorCode.TransactionConflict]: 'Transaction conflict, retries exhausted; safe to retry',
  [ErrorCode.Unavailable]: 'Database unavailable or service overloaded; safe to retry',
  [ErrorCode.IdempotencyKeyReused]: 'Idempotency key already used for another call (another method or other params); nothing was written',
  [ErrorCode.VersionMismatch]: 'Version mismatch: the record is not at expectedVersion; nothing was changed (data: {id, expectedVersion, currentVersion})',
  [ErrorCode.RateLimited]: 'Too many requests; retry after the Retry-After header',
}

export interface ParamIssue {
  path: Array<string | number>
  message: string
}

/** An error meant for the client: its code, message and data are sent as they are. */
export class RpcError extends Error {
  override name = 'RpcError'
  constructor (
    readonly code: ErrorCodeValue,
    message: string,
    readonly data?: unknown
  ) {
    super(message)
  }

  /** The JSON-RPC error response that carries this error. */
  toResponse (id: JSONRPCID): JSONRPCErrorResponse {
    return createJSONRPCErrorResponse(id, this.code, this.message, this.data)
  }
}

/**
 * An RpcError that ends the HTTP exchange with a status other than 200: a refusal by one of
 * the hooks guarding the RPC routes (API keys, rate limits, X-Consistency, Idempotency-Key) or
 * by a route itself (405), thrown; the app's error handler (http-errors.ts) answers it in the
 * route's protocol.
 */
export class HttpRpcError extends RpcError {
  constructor (readonly statusCode: number, code: RpcError['code'], message: string, data?: unknown) {
    super(code, message, data)
  }
}

export const invalidParams = (issues: ParamIssue[]) =>
  new RpcError(ErrorCode.InvalidParams, 'Invalid params', { issues })

export const invalidRequest = (reason: string) =>
  new RpcError(ErrorCode.InvalidRequest, 'Invalid Request', { reason })

export const internalError = () => new RpcError(ErrorCode.InternalError, 'Internal error')

export const unavailable = (message = 'Database unavailable') =>
  new RpcError(ErrorCode.Unavailable, message, { retryable: true })

export const transactionConflict = () =>
  new RpcError(ErrorCode.TransactionConflict, 'Transaction conflict, retries exhausted', { retryable: true })

export const idempotencyKeyReused = (idempotencyKey: string) =>
  new RpcError(ErrorCode.IdempotencyKeyReused, 'Idempotency key already used for another call', { idempotencyKey })
