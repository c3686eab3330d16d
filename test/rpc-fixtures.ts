import { pino } from 'pino'
import { z } from 'zod'
import type { PrismaClient } from '../src/generated/prisma/client.js'
import { defineMethod, type MethodContext, type MethodTable } from '../src/rpc/method.js'
import { createRpcServer, type RpcServerOptions } from '../src/rpc/rpc-server.js'

/** A silent logger and a read-write caller, as the HTTP layer would pass them. */
export const scope = { log: pino({ level: 'silent' }), caller: { keyId: null, scope: 'write' as const } }

/** A method for machinery tests: params `{login?}`, any result, whatever the handler does. */
export function testMethod (handler: (params: { login?: string | undefined }, context: MethodContext) => Promise<unknown>) {
  return defineMethod({
    summary: 'a test method',
    access: 'write',
    params: z.strictObject({ login: z.string().optional() }),
    result: z.unknown(),
    errors: [],
    examples: [],
    handler,
  })
}

/** The real protocol engine on the given database, with small limits tests can override. */
export function testRpcServer (db: PrismaClient, methods: MethodTable, overrides: Partial<RpcServerOptions> = {}) {
  return createRpcServer({
    methods,
    db,
    transaction: { timeoutMs: 5000, maxWaitMs: 2000, maxRetries: 3 },
    batchMax: 10,
    batchConcurrency: 2,
    maxInFlight: 10,
    discover: () => ({}),
    ...overrides,
  })
}
