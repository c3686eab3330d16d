import { randomBytes } from 'node:crypto'
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import type { TestProject } from 'vitest/node'
import { reachableTempFolder } from '../scripts/postgres-topology.js'
import { holdEmbeddedPostgres, type EmbeddedPostgres } from '../src/dev-database/index.js'
import { migrateDeploy } from '../src/db/migrate.js'
import { debianPackages, ensureSystemPackages } from '../scripts/system-packages.js'
import { adminQuery, withDatabase } from './support/database.js'
import { buildIfStale } from './support/processes.js'

/**
 * Once per run, before any test file: the Debian packages the suite runs, one real PostgreSQL
 * for the whole run, and a fresh build for the tests that start the built service.
 *
 * The database is the server in TEST_DATABASE_URL if set (a fresh database is created on it
 * and dropped afterwards), else an embedded one started here in a temporary folder and
 * removed afterwards. Either way the schema comes from the real `prisma migrate deploy`.
 * The build runs meanwhile, only when dist/ is older than src/ (`npm test` has just built).
 */
export default async function setup (project: TestProject) {
  // Before anything starts: the scale-out tests' servers and the Python callers come from
  // Debian's packages, which a fresh machine may lack (installed here as root, or a clear stop).
  await ensureSystemPackages(Object.values(debianPackages))
  const [database] = await Promise.all([startDatabase(), Promise.resolve().then(buildIfStale)])
  project.provide('adminDatabaseUrl', database.adminUrl)
  project.provide('databaseUrl', database.databaseUrl)
  return database.teardown
}

async function startDatabase () {
  const external = process.env.TEST_DATABASE_URL
  let adminUrl: string
  let databaseUrl: string
  let teardown: () => Promise<void>

  if (external) {
    adminUrl = external
    const name = `user_rpc_test_${randomBytes(4).toString('hex')}`
    await adminQuery(adminUrl, `CREATE DATABASE ${name}`)
    databaseUrl = withDatabase(adminUrl, name)
    teardown = async () => { await adminQuery(adminUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) }
  } else {
    const dir = await reachableTempFolder('test')
    const server = await startEmbedded(join(dir, 'data'))
    adminUrl = server.adminUrl
    databaseUrl = server.url
    teardown = async () => {
      await server.release()
      await rm(dir, { recursive: true, force: true })
    }
  }

  try {
    await migrateDeploy(databaseUrl)
  } catch (error) {
    await teardown()
    throw error
  }
  return { adminUrl, databaseUrl, teardown }
}

/**
 * PostgreSQL cannot be told to pick its own port, and a port found free may be taken before
 * it binds it: a start that fails for that reason is tried again on another port.
 */
async function startEmbedded (dir: string): Promise<EmbeddedPostgres> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await holdEmbeddedPostgres({ dir, database: 'user_rpc_test' })
    } catch (error) {
      // The error carries the server log's last lines.
      const inUse = /could not bind|Address already in use/i.test((error as Error).message)
      if (!inUse || attempt >= 3) throw error
    }
  }
}
