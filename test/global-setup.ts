import { randomBytes } from 'node:crypto'
import { chmod, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import type { TestProject } from 'vitest/node'
import { startEmbeddedPostgres } from '../src/db/embedded-postgres.js'
import { migrateDeploy } from '../src/db/migrate.js'

/**
 * One real PostgreSQL for the whole run: the server in TEST_DATABASE_URL if set (a fresh
 * database is created on it and dropped afterwards), else an embedded one started here in
 * a temporary folder and removed afterwards. Either way the schema comes from the real
 * `prisma migrate deploy`.
 */
export default async function setup (project: TestProject) {
  const external = process.env.TEST_DATABASE_URL
  let adminUrl: string
  let databaseUrl: string
  let teardown: () => Promise<void>

  if (external) {
    adminUrl = external
    const name = `user_rpc_test_${randomBytes(4).toString('hex')}`
    await adminQuery(adminUrl, `CREATE DATABASE ${name}`)
    databaseUrl = withDatabase(adminUrl, name)
    teardown = () => adminQuery(adminUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
  } else {
    // Reachable by the `postgres` user when the run is root (mkdtemp makes 0700 folders).
    const dir = await mkdtemp(join(tmpdir(), 'user-rpc-test-'))
    await chmod(dir, 0o755)
    const server = await startEmbeddedPostgres({ dir: join(dir, 'data'), database: 'user_rpc_test' })
    adminUrl = server.adminUrl
    databaseUrl = server.url
    teardown = async () => {
      await server.stop()
      await rm(dir, { recursive: true, force: true })
    }
  }

  try {
    await migrateDeploy(databaseUrl)
  } catch (error) {
    await teardown()
    throw error
  }
  project.provide('adminDatabaseUrl', adminUrl)
  project.provide('databaseUrl', databaseUrl)
  return teardown
}

export function withDatabase (url: string, database: string): string {
  const parsed = new URL(url)
  parsed.pathname = `/${database}`
  return parsed.toString()
}

async function adminQuery (url: string, sql: string) {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    await client.query(sql)
  } finally {
    await client.end()
  }
}
