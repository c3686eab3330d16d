import { ErrorCode, RpcError } from '../rpc/errors.js'

export const userNotFound = (key: { id: number } | { login: string }, message = 'User not found') =>
  new RpcError(ErrorCode.NotFound, message, key)

export const loginTaken = (login: string) =>
  new RpcError(ErrorCode.Conflict, 'Login already taken', { login })
