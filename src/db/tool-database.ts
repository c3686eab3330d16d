import { loadToolConfig, readEnvironment } from '../config.js'
import { currentHostUrl } from './multi-host.js'

export interface ToolDatabase {
  url: string
  /** The embedded server's port, when that is the database. */
  embeddedPort?: number
  /** The embedded server was not running: this process started it. */
  startedHere: boolean
  /** Lets go of the embedded server (it stops if nobody else holds it); a no-op otherwise. */
  release: () => Promise<void>
}

/**
 * The database the developer's tools act on (the Prisma CLI through prisma.config.ts, the seed,
 * `npm run db:url`), by one rule: DIRECT_DATABASE_URL, else DATABASE_URL, else the embedded
 * PostgreSQL the service uses, in EMBEDDED_DATABASE_DIR, joined if it runs and started if not.
 *
 * The embedded server stays held until `release()` or until this process ends, however it
 * ends: the Prisma CLI exits without notice, and the server's keeper then stops it unless the
 * service or another tool still uses it.
 *
 * Settings come from the environment over `.env`, as the service reads them.
 */
export async function toolDatabase (environment = readEnvironment()): Promise<ToolDatabase> {
  const config = loadToolConfig(environment)
  const given = config.DIRECT_DATABASE_URL ?? config.DATABASE_URL
  // The CLI and its schema engine take one host: a multi-host URL (libpq's) is given as the
  // host its target_session_attrs leads to now, the primary for read-write.
  if (given) return { url: await currentHostUrl(given, 10_000), startedHere: false, release: async () => {} }
  const { holdEmbeddedPostgres } = await import('../dev-database/index.js')
  const server = await holdEmbeddedPostgres({
    dir: config.EMBEDDED_DATABASE_DIR,
    port: config.EMBEDDED_DATABASE_PORT,
    notice: (line) => process.stderr.write(`${line}\n`),
  })
  return { url: server.url, embeddedPort: server.port, startedHere: server.started, release: server.release }
}
