import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { inject } from 'vitest'
import { migrateDeploy } from '../src/db/migrate.js'

export interface OwnDatabase {
  url: string
  drop: () => Promise<void>
}

/**
 * A fresh, migrated database on the test server, for tests whose calls may touch any row
 * (arbitrary ids, deletes) and so must not share the suite's database with other files.
 */
export async function createOwnDatabase (prefix: string): Promise<OwnDatabase> {
  const adminUrl = inject('adminDatabaseUrl')
  const name = `${prefix}_${randomBytes(4).toString('hex')}`
  await adminQuery(adminUrl, `CREATE DATABASE ${pg.escapeIdentifier(name)}`)
  const url = new URL(adminUrl)
  url.pathname = `/${name}`
  const drop = () => adminQuery(adminUrl, `DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`)
  try {
    await migrateDeploy(url.toString())
  } catch (error) {
    await drop()
    throw error
  }
  return { url: url.toString(), drop }
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
