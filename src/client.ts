import { JSONRPCClient, JSONRPCErrorException, type JSONRPCRequest, type JSONRPCResponse, type TypedJSONRPCClient } from 'json-rpc-2.0'
import type { UserMethods } from './users/user-methods.js'

export type { UserMethods }
export type { UserDto as User, LegacyUserDto as LegacyUser } from './users/user-schemas.js'

/** A JSON-RPC error from the service, with the code and data to branch on. */
export class UserRpcError extends Error {
  override name = 'UserRpcError'
  constructor (message: string, readonly code: number, readonly data?: unknown) {
    super(message)
  }
}

export interface ClientOptions {
  /** The service's JSON-RPC endpoint, e.g. http://127.0.0.1:8000/rpc */
  url: string
  /** Sent as `Authorization: Bearer <apiKey>`. */
  apiKey?: string
  /** Per-call time limit; default 30 s. */
  timeoutMs?: number
  fetch?: typeof fetch
}

type Params<M extends keyof UserMethods> = Parameters<UserMethods[M]>[0]
type Result<M extends keyof UserMethods> = ReturnType<UserMethods[M]>

/**
 * A typed client for user-rpc on json-rpc-2.0's client: method names, params and results
 * are checked at compile time against the service's own method definitions. A failed call
 * rejects with UserRpcError (code, message, data), also for transport refusals (401, 413,
 * 429...), whose JSON-RPC bodies carry `id: null` and so cannot be matched by id.
 */
export function createUserRpcClient (options: ClientOptions) {
  const doFetch = options.fetch ?? fetch
  const headers: Record<string, string> = { 'content-type': 'application/json' }
  if (options.apiKey) headers.authorization = `Bearer ${options.apiKey}`

  const client: TypedJSONRPCClient<UserMethods> = new JSONRPCClient(async (request: JSONRPCRequest) => {
    const response = await doFetch(options.url, { method: 'POST', headers, body: JSON.stringify(request) })
    if (response.status === 204) return
    const body = await response.json().catch(() => null) as JSONRPCResponse | null
    if (body && typeof body === 'object' && 'jsonrpc' in body) {
      client.receive(body.id === null && request.id !== undefined ? { ...body, id: request.id } : body)
    } else if (request.id !== undefined) {
      client.receive({ jsonrpc: '2.0', id: request.id, error: { code: -32603, message: `HTTP ${response.status}` } })
    }
  })
  const timed = client.timeout(options.timeoutMs ?? 30_000)

  return {
    async call<M extends keyof UserMethods & string> (method: M, params: Params<M>): Promise<Result<M>> {
      try {
        return await timed.request(method, params) as Result<M>
      } catch (error) {
        if (error instanceof JSONRPCErrorException) throw new UserRpcError(error.message, error.code, error.data)
        throw error
      }
    },
  }
}

export type UserRpcClient = ReturnType<typeof createUserRpcClient>
