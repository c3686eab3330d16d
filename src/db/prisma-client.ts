import { PrismaPg } from '@prisma/adapter-pg'
import pg from 'pg'
import { PrismaClient } from '../generated/prisma/client.js'
import { poolTarget } from './multi-host.js'
import { preparedStatementNames } from './statement-names.js'

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
  /** Name statements so PostgreSQL parses and plans each query shape once per connection. */
  preparedStatements: boolean
  onError?: (error: Error) => void
}

/**
 * One pg pool, wrapped by Prisma's pg driver adapter. The pool is ours (not the adapter's)
 * so its counters can be read and so a connection wait is bounded by
 * `connectionTimeoutMillis`: an exhausted pool or an unreachable server fails fast. A
 * multi-host URL gets a Client that finds the host its target_session_attrs asks for
 * (multi-host.ts), so the pool follows a failover without a restart.
 */
export function openDatabase (options: PoolOptions): DatabaseHandle {
  const pool = new pg.Pool({
    ...poolTarget(options.url, options.connectTimeoutMs),
    max: options.max,
    connectionTimeoutMillis: options.connectTimeoutMs,
    idleTimeoutMillis: 30_000,
    application_name: 'user-rpc',
  })
  // An idle client that loses its server emits 'error' on the pool; unhandled, it would crash.
  pool.on('error', (error) => options.onError?.(error))
  // The adapter's type says the generator returns a string; pg takes undefined as "unnamed".
  const namer = options.preparedStatements ? preparedStatementNames() as (query: { sql: string, args: readonly unknown[] }) => string : undefined
  const adapter = new PrismaPg(pool, namer ? { statementNameGenerator: namer } : {})
  const prisma = new PrismaClient({
    adapter,
    // Any other format captures a stack trace (new Error()) on every query, to point at the
    // caller's line in Prisma's own error text; that was a quarter of Prisma's CPU per call.
    // Clients never see Prisma's messages (rpc-server.ts maps errors), and the logs keep the
    // error's code and message. NODE_ENV=production already implied 'minimal'.
    errorFormat: 'minimal',
  })
  return {
    prisma,
    pool,
    close: async () => {
      await prisma.$disconnect()
      await pool.end()
    },
  }
}
