// @ts-check
/**
 * The benchmark's one PostgreSQL: a fresh embedded server in a temporary folder by default
 * (through the service's own dist/dev-database/, which runs it as the `postgres`
 * user when we are root), or a fresh database on BENCH_DATABASE_URL, created here and
 * dropped at the end, or (BENCH_REPLICA=1) Debian's PostgreSQL as a primary with a
 * streaming replica beside it (scripts/postgres-topology.js; the embedded package has no
 * pg_basebackup). Either way it is migrated once with the real `prisma migrate deploy`.
 */
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import pg from 'pg'
import { holdEmbeddedPostgres } from '../dist/dev-database/index.js'
import { migrateDeploy } from '../dist/db/migrate.js'
import { createDatabaseOnServer, startPrimary, startReplica, waitForReplay, withClient } from '../scripts/postgres-topology.js'

/**
 * @typedef {object} BenchDatabase
 * @property {string} url
 * @property {'embedded' | 'external' | 'debian'} kind
 * @property {string} version     SHOW server_version
 * @property {string} [replicaUrl]          a streaming replica of it (BENCH_REPLICA=1)
 * @property {() => Promise<void>} [caughtUp]   resolves once the replica has replayed every write so far
 * @property {() => Promise<void>} stop
 */

/**
 * @param {{ externalUrl?: string | undefined, replica?: boolean, workDir: string, log: (line: string) => void }} options
 * @returns {Promise<BenchDatabase>}
 */
export async function provisionDatabase ({ externalUrl, replica = false, workDir, log }) {
  /** @type {Omit<BenchDatabase, 'version'>} */
  const database = replica ? await primaryAndReplica(workDir) : externalUrl ? await freshExternalDatabase(externalUrl) : await freshEmbeddedServer(workDir, log)
  try {
    await migrateDeploy(database.url)
    return { ...database, version: await serverVersion(database.url) }
  } catch (error) {
    await database.stop()
    throw error
  }
}

/** @param {string} workDir @param {(line: string) => void} log */
async function freshEmbeddedServer (workDir, log) {
  const server = await holdEmbeddedPostgres({ dir: join(workDir, 'postgres'), database: 'user_rpc_bench', notice: log })
  return { url: server.url, kind: /** @type {const} */ ('embedded'), stop: server.release }
}

/**
 * Debian's PostgreSQL as it comes (fsync on, no extra modules), and a replica of it made
 * with pg_basebackup -R; the schema and the seed reach the replica by streaming.
 * @param {string} workDir
 */
async function primaryAndReplica (workDir) {
  const root = join(workDir, 'debian')
  const primary = await startPrimary({ root, settings: { shared_preload_libraries: "''" } })
  /** @type {import('../scripts/postgres-topology.js').PostgresServer | undefined} */
  let replica
  const stop = async () => {
    await replica?.stop()
    await primary.stop()
  }
  try {
    await createDatabaseOnServer(primary, 'user_rpc_bench')
    replica = await startReplica(primary, { root })
  } catch (error) {
    await stop()
    throw error
  }
  const standby = replica
  return {
    url: primary.url('user_rpc_bench'),
    replicaUrl: standby.url('user_rpc_bench'),
    kind: /** @type {const} */ ('debian'),
    caughtUp: () => waitForReplay(primary, standby),
    stop,
  }
}

/** @param {string} adminUrl */
async function freshExternalDatabase (adminUrl) {
  const name = `user_rpc_bench_${randomBytes(4).toString('hex')}`
  await withClient(adminUrl, (client) => client.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`))
  const url = new URL(adminUrl)
  url.pathname = `/${name}`
  const stop = async () => {
    await withClient(adminUrl, async (client) => {
      // FORCE (PostgreSQL 13+) ends sessions a crashed server left behind.
      await client.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`)
        .catch(() => client.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)}`))
    })
  }
  return { url: url.toString(), kind: /** @type {const} */ ('external'), stop }
}

/** @param {string} url */
async function serverVersion (url) {
  return await withClient(url, async (client) => (await client.query('SHOW server_version')).rows[0].server_version)
}

// One connection for one piece of work: the topology script's, shared by the seed and the soak.
export { withClient }
