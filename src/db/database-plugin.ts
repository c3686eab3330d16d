import fp from 'fastify-plugin'
import type pg from 'pg'
import type { Config } from '../config.js'
import { openDatabase, type Database, type DatabaseHandle } from './prisma-client.js'
import { serverNames } from '../database-url.js'
import { createReadRouting, type ReadRouting } from './read-routing.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** The primary's Prisma client, for work outside calls (the idempotency keys' expiry). */
    db: Database
    /** The primary's pool, for readiness and pool metrics. */
    dbPool: pg.Pool
    /** Which database each call runs on (the primary, or a replica for reads), and the replicas' state. */
    dbRouting: ReadRouting
  }
}

export interface DatabasePluginOptions {
  config: Config
  /** The URL to use: DATABASE_URL, or the embedded server's. */
  url: string
}

/**
 * Decorates the app with the primary's Prisma client and pool, and the read routing over
 * DATABASE_REPLICA_URLS (each replica its own client, adapter and pool of DATABASE_POOL_MAX);
 * closes them all with the app.
 */
export default fp<DatabasePluginOptions>(async (app, { config, url }) => {
  let closing = false
  const open = (target: string, onLost: (error: Error) => void): DatabaseHandle => openDatabase({
    url: target,
    max: config.DATABASE_POOL_MAX,
    connectTimeoutMs: config.DATABASE_CONNECT_TIMEOUT_MS,
    preparedStatements: config.DATABASE_PREPARED_STATEMENTS,
    // pg-pool's end() resolves before its sockets are gone, so a database stopped right
    // after (the embedded one) ends them "unexpectedly"; that is expected then.
    onError: (error) => { if (!closing) onLost(error) },
  })
  const database = open(url, (error) => {
    const { code } = error as { code?: string }
    app.log.warn({ code, reason: error.message }, 'database connection lost')
  })
  // A replica's lost connections are not an outage by themselves; a read that fails on it is
  // (read-routing.ts), and that is logged once per episode.
  const replicas = config.DATABASE_REPLICA_URLS.map((replicaUrl) => {
    const name = serverNames(replicaUrl)
    return { name, database: open(replicaUrl, (error) => app.log.debug({ replica: name, reason: error.message }, 'replica connection lost')) }
  })
  const routing = createReadRouting({ primary: database, replicas, retryMs: config.DATABASE_REPLICA_RETRY_MS, log: app.log })
  // The first query instantiates Prisma's query compiler and opens a connection (~0.3 s):
  // pay for it at start, not in the first caller's latency. A database that is down now is
  // not fatal; /readyz answers 503 until it is back.
  try {
    await database.prisma.$queryRawUnsafe('SELECT 1')
  } catch (error) {
    app.log.warn({ reason: (error as Error).message }, 'database not reachable at start')
  }
  await routing.warmUp()
  app.decorate('db', database.prisma)
  app.decorate('dbPool', database.pool)
  app.decorate('dbRouting', routing)
  app.addHook('onClose', async () => {
    closing = true
    await routing.close()
    await database.close()
  })
}, { name: 'database' })
