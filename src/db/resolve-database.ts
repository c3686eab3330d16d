import type { FastifyBaseLogger } from 'fastify'
import pg from 'pg'
import type { Config } from '../config.js'
import { pendingMigrations, shippedMigrations } from './migration-state.js'
import { migrateDeploy } from './migrate.js'
import { currentHostUrl } from './multi-host.js'

export interface ResolvedDatabase {
  url: string
  /** Lets go of what this process holds (the embedded server); a no-op otherwise. */
  stop: () => Promise<void>
}

/**
 * DATABASE_URL when set: the operator's PostgreSQL (or PgBouncer in front of it), migrated by
 * them (the migrate image, or `npm run db:migrate`) or, when they ask for it with
 * MIGRATE_ON_START, here, through DIRECT_DATABASE_URL when set (migrations need a session).
 * Otherwise a real PostgreSQL embedded for development, started or joined and migrated here,
 * so `npm start` works on a fresh clone with nothing else installed, and supervised: started
 * again if it stops while held (EMBEDDED_DATABASE_RESTARTS times at most), else `onLost` is
 * called, and the caller should exit non-zero.
 */
export async function resolveDatabase (config: Config, log: FastifyBaseLogger, onLost: (error: Error) => void): Promise<ResolvedDatabase> {
  if (config.DATABASE_URL) {
    // The Prisma CLI takes one host: a multi-host URL is given as the host it leads to now.
    if (config.MIGRATE_ON_START) await migrateDeploy(await currentHostUrl(config.DIRECT_DATABASE_URL ?? config.DATABASE_URL, config.DATABASE_CONNECT_TIMEOUT_MS))
    return { url: config.DATABASE_URL, stop: async () => {} }
  }
  // Imported here only: with DATABASE_URL set, the service never loads the embedded server's
  // code, whose package the runtime image leaves out.
  const { holdEmbeddedPostgres, superviseEmbeddedPostgres } = await import('../dev-database/index.js')
  const server = await holdEmbeddedPostgres({
    dir: config.EMBEDDED_DATABASE_DIR,
    port: config.EMBEDDED_DATABASE_PORT,
    notice: (line) => log.warn(line),
  })
  try {
    // `prisma migrate deploy` costs ~2 s of CLI start-up even with nothing to do, so it
    // only runs when a shipped migration is missing.
    if (await hasPendingMigrations(server.url)) await migrateDeploy(server.url)
  } catch (error) {
    await server.release()
    throw error
  }
  log.info({ dir: config.EMBEDDED_DATABASE_DIR, port: server.port },
    server.started ? 'embedded PostgreSQL started and migrated' : 'embedded PostgreSQL joined (already running) and migrated')
  const supervised = superviseEmbeddedPostgres(server, { restarts: config.EMBEDDED_DATABASE_RESTARTS }, log, onLost)
  return { url: server.url, stop: supervised.stop }
}

async function hasPendingMigrations (url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    return (await pendingMigrations(client, await shippedMigrations())).length > 0
  } finally {
    await client.end()
  }
}
