import fp from 'fastify-plugin'
import type pg from 'pg'
import type { Config } from '../config.js'
import { createDatabase, type Database } from './prisma-client.js'

declare module 'fastify' {
  interface FastifyInstance {
    db: Database
    dbPool: pg.Pool
  }
}

export interface DatabasePluginOptions {
  config: Config
  /** The URL to use: DATABASE_URL, or the embedded server's. */
  url: string
}

/** Decorates the app with the Prisma client and its pool; closes both with the app. */
export default fp<DatabasePluginOptions>(async (app, { config, url }) => {
  let closing = false
  const database = createDatabase({
    url,
    max: config.DATABASE_POOL_MAX,
    connectTimeoutMs: config.DATABASE_CONNECT_TIMEOUT_MS,
    preparedStatements: config.DATABASE_PREPARED_STATEMENTS,
    // pg-pool's end() resolves before its sockets are gone, so a database stopped right
    // after (the embedded one) ends them "unexpectedly"; that is expected then.
    onError: (error) => {
      if (closing) return
      const { code } = error as { code?: string }
      app.log.warn({ code, reason: error.message }, 'database connection lost')
    },
  })
  // The first query instantiates Prisma's query compiler and opens a connection (~0.3 s):
  // pay for it at start, not in the first caller's latency. A database that is down now is
  // not fatal; /readyz answers 503 until it is back.
  try {
    await database.prisma.$queryRawUnsafe('SELECT 1')
  } catch (error) {
    app.log.warn({ reason: (error as Error).message }, 'database not reachable at start')
  }
  app.decorate('db', database.prisma)
  app.decorate('dbPool', database.pool)
  app.addHook('onClose', async () => {
    closing = true
    await database.close()
  })
}, { name: 'database' })
