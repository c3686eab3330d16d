import { PrismaPg } from '@prisma/adapter-pg'
import pg from 'pg'
import { PrismaClient } from '../generated/prisma/client.js'

export type Database = PrismaClient

export interface DatabaseHandle {
  prisma: PrismaClient
  /** The pool behind the adapter, kept for health checks and pool metrics. */
  pool: pg.Pool
  close: () => Promise<void>
}

export interface PoolOptions {
  url: string
  max: number
  connectTimeoutMs: number
  onError?: (error: Error) => void
}

/**
 * One pg pool, wrapped by Prisma's pg driver adapter. The pool is ours (not the adapter's)
 * so its counters can be read and so a connection wait is bounded by
 * `connectionTimeoutMillis`: an exhausted pool or an unreachable server fails fast.
 */
export function createDatabase (options: PoolOptions): DatabaseHandle {
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.max,
    connectionTimeoutMillis: options.connectTimeoutMs,
    idleTimeoutMillis: 30_000,
    application_name: 'user-rpc',
  })
  // An idle client that loses its server emits 'error' on the pool; unhandled, it would crash.
  pool.on('error', (error) => options.onError?.(error))
  const prisma = new PrismaClient({ adapter: new PrismaPg(pool) })
  return {
    prisma,
    pool,
    close: async () => {
      await prisma.$disconnect()
      await pool.end()
    },
  }
}
