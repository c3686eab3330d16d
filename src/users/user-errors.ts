import { ErrorCode, RpcError } from '../rpc/errors.js'

export const userNotFound = (key: { id: number } | { login: string }, message = 'User not found') =>
  new RpcError(ErrorCode.NotFound, message, key)

/** The caller's expectedVersion is not the user's version: someone else changed it first. */
export const versionMismatch = (id: number, expectedVersion: number, currentVersion: number) =>
  new RpcError(ErrorCode.VersionMismatch, 'Version mismatch', { id, expectedVersion, currentVersion })

export const loginTaken = (login: string) =>
  new RpcError(ErrorCode.Conflict, 'Login already taken', { login })
