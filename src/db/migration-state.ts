import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { projectRoot } from '../paths.js'

/** Anything that runs a query: a pg Pool or Client. */
interface Queryable {
  query: <R extends Record<string, unknown>>(sql: string) => Promise<{ rows: R[] }>
}

/** Migration folders shipped with this build: what the database must have applied. */
export async function shippedMigrations (): Promise<string[]> {
  const entries = await readdir(join(projectRoot, 'prisma', 'migrations'), { withFileTypes: true })
  return entries.filter((entry) => entry.isDirectory()).map((entry) => entry.name).sort()
}

/**
 * The shipped migrations that Prisma Migrate has not recorded as applied in this database
 * (all of them when it has no `_prisma_migrations` table yet).
 */
export async function pendingMigrations (database: Queryable, shipped: string[]): Promise<string[]> {
  try {
    const { rows } = await database.query<{ migration_name: string }>(
      'SELECT migration_name FROM _prisma_migrations WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL'
    )
    const applied = new Set(rows.map((row) => row.migration_name))
    return shipped.filter((name) => !applied.has(name))
  } catch (error) {
    // 42P01: undefined table, so nothing has been applied yet.
    if ((error as { code?: string }).code === '42P01') return shipped
    throw error
  }
}
