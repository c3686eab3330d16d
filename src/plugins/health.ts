import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import type pg from 'pg'
import { projectRoot } from '../paths.js'

/** Migration folders shipped with this build: what the database must have applied. */
async function shippedMigrations (): Promise<string[]> {
  const entries = await readdir(join(projectRoot, 'prisma', 'migrations'), { withFileTypes: true })
  return entries.filter((entry) => entry.isDirectory()).map((entry) => entry.name).sort()
}

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
      const { rows } = await withTimeout(pool.query<{ migration_name: string }>(
        'SELECT migration_name FROM _prisma_migrations WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL'
      ), timeoutMs)
      const applied = new Set(rows.map((row) => row.migration_name))
      const pending = expected.filter((name) => !applied.has(name))
      if (pending.length > 0) return await reply.code(503).send({ status: 'unavailable', reason: 'migrations pending', pending })
      return { status: 'ok' }
    } catch (error) {
      // 42P01: no migrations table at all, so nothing has been applied yet.
      if ((error as { code?: string }).code === '42P01') {
        return await reply.code(503).send({ status: 'unavailable', reason: 'migrations pending', pending: expected })
      }
      request.log.warn({ err: error }, 'readiness check failed')
      return await reply.code(503).send({ status: 'unavailable', reason: 'database not answering' })
    }
  })
}
