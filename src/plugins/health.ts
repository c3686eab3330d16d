import fp from 'fastify-plugin'
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
 *
 * With replicas, /readyz also lists each one as the read routing sees it (no query: its
 * state is what the last read or probe found). A replica that is down never fails
 * readiness: its reads go to the primary, which is what readiness is about.
 */
export interface HealthOptions {
  /** READINESS_TIMEOUT_MS. */
  timeoutMs: number
}

export const health = fp<HealthOptions>(async (app, { timeoutMs }) => {
  const pool = app.dbPool
  const expected = await shippedMigrations()
  const details = () => {
    const replicas = app.dbRouting.replicaStates()
    return replicas.length > 0 ? { replicas } : {}
  }

  app.get('/healthz', async () => ({ status: 'ok' }))

  app.get('/readyz', async (request, reply) => {
    try {
      const pending = await withTimeout(pendingMigrations(pool, expected), timeoutMs)
      if (pending.length > 0) return await reply.code(503).send({ status: 'unavailable', reason: 'migrations pending', pending, ...details() })
      return { status: 'ok', ...details() }
    } catch (error) {
      request.log.warn({ err: error }, 'readiness check failed')
      return await reply.code(503).send({ status: 'unavailable', reason: 'database not answering', ...details() })
    }
  })
}, { name: 'health', dependencies: ['database'] })
