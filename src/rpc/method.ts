import type { FastifyBaseLogger } from 'fastify'
import type { z } from 'zod'
import type { Prisma } from '../generated/prisma/client.js'
import type { ErrorCodeValue } from './errors.js'

/** Read methods need any valid API key; write methods need a read-write key. */
export type Access = 'read' | 'write'

/** Who is calling: the API key's id (never the key) and what it may do. */
export interface Caller {
  keyId: string | null
  scope: Access
}

/** What every handler receives beside its params: its own transaction. */
export interface MethodContext {
  tx: Prisma.TransactionClient
  log: FastifyBaseLogger
  caller: Caller
}

export interface MethodError {
  code: ErrorCodeValue
  message: string
}

export interface MethodExample<P, R> {
  name: string
  params: P
  result: R
}

/**
 * One JSON-RPC method: its contract (params and result schemas, errors, examples) and its
 * handler. The same schemas validate calls, describe the method in the OpenRPC document and
 * type the TypeScript client, so the three cannot drift apart.
 */
export interface MethodDefinition<
  Params extends z.ZodObject = z.ZodObject,
  Result extends z.ZodType = z.ZodType
> {
  summary: string
  description?: string
  access: Access
  /** A strict object schema: unknown names are invalid params. */
  params: Params
  /** Order of positional params; defaults to the schema's key order. */
  paramOrder?: ReadonlyArray<keyof z.input<Params> & string>
  result: Result
  errors: MethodError[]
  examples: Array<MethodExample<z.input<Params>, z.output<Result>>>
  /**
   * A write whose repeats with one idempotency key get the first answer instead of running
   * again (src/rpc/idempotency.ts). The key comes as the `idempotencyKey` param when the
   * params schema has one, else only as the Idempotency-Key header (a legacy method whose
   * params are fixed).
   */
  idempotent?: boolean
  /** Gets the params without the idempotency key: the RPC server has taken it out. */
  handler: (params: HandlerParams<Params>, context: MethodContext) => Promise<z.output<Result>>
}

export type HandlerParams<Params extends z.ZodObject> = Omit<z.output<Params>, 'idempotencyKey'>

/** Identity function that keeps a definition's param and result types. */
export function defineMethod<Params extends z.ZodObject, Result extends z.ZodType> (
  definition: MethodDefinition<Params, Result>
): MethodDefinition<Params, Result> {
  return definition
}

export type AnyMethodDefinition = MethodDefinition<any, any>

/** Methods by name: the name is the key, so a definition cannot disagree with it. */
export type MethodTable = Record<string, AnyMethodDefinition>
