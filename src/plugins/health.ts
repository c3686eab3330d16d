import type { FastifyInstance } from 'fastify'
import type pg from 'pg'
import { pendingMigrations, shippedMigrations } from '../db/migration-state.js'

function withTimeout<T> (work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms)
  })
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer))
}

/**
 * GET /healthz: the process answers (liveness). GET /readyz: the database answers within
 * the bound and every shipped migration is applied (readiness), else 503 with the reason.
 * Both are unauthenticated and cheap: one small query, no transaction.
 */
export async function registerHealthRoutes (app: FastifyInstance, pool: pg.Pool, timeoutMs: number) {
  const expected = await shippedMigrations()

  app.get('/healthz', async () => ({ status: 'ok' }))

  app.get('/readyz', async (request, reply) => {
    try {
      const pending = await withTimeout(pendingMigrations(pool, expected), timeoutMs)
      if (pending.length > 0) return await reply.code(503).send({ status: 'unavailable', reason: 'migrations pending', pending })
      return { status: 'ok' }
    } catch (error) {
      request.log.warn({ err: error }, 'readiness check failed')
      return await reply.code(503).send({ status: 'unavailable', reason: 'database not answering' })
    }
  })
}
