import { setTimeout as sleep } from 'node:timers/promises'
import type { IsolationLevel } from '../config.js'
import { isWriteConflict } from '../db/database-errors.js'
import type { Prisma } from '../generated/prisma/client.js'
import { transactionConflict } from './errors.js'
import type { Access } from './method.js'

export interface TransactionSettings {
  /** Unset: the database's default; setting one costs a statement per transaction. */
  isolationLevel?: IsolationLevel | undefined
  /** Longest a transaction may run before Prisma rolls it back. */
  timeoutMs: number
  /** Longest to wait for a connection to start one. */
  maxWaitMs: number
  /** Extra attempts after a serialization failure or deadlock. */
  maxRetries: number
}

/** Prisma's own options for one interactive transaction. */
export interface TransactionOptions {
  isolationLevel?: IsolationLevel
  timeout: number
  maxWait: number
}

/**
 * What the wrapper needs of a database: Prisma's interactive `$transaction`. A PrismaClient
 * is one; so is src/db's read routing, which runs the transaction on a replica or the primary.
 */
export interface TransactionalClient {
  $transaction: <R>(work: (tx: Prisma.TransactionClient) => Promise<R>, options: TransactionOptions) => Promise<R>
}

/**
 * Whether a call's reads may be served by a replica (`eventual`, the default) or must see
 * every write committed before the call started (`strong`: the primary).
 */
export type Consistency = 'eventual' | 'strong'

/**
 * The database for one call, from its method's access and the caller's consistency; src/db
 * decides what stands behind it (the primary, a replica, the fallback). rpc/ never sees a URL.
 */
export type ClientFor = (access: Access, consistency: Consistency) => TransactionalClient

export interface TransactionHooks {
  onRetry?: (attempt: number, error: unknown) => void
}

/**
 * The one transaction boundary of the service (the successor of the original `DBDefer`):
 * each call gets its own interactive transaction, committed when the callback returns and
 * rolled back when it throws. Serialization failures and deadlocks re-run the whole
 * callback with jittered exponential backoff, then become -32010. Every other error goes
 * back to the caller as it is; the call boundary maps it (rpc-server.ts).
 */
export async function runInTransaction<T> (
  prisma: TransactionalClient,
  settings: TransactionSettings,
  work: (tx: Prisma.TransactionClient) => Promise<T>,
  hooks: TransactionHooks = {}
): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await prisma.$transaction(work, {
        ...(settings.isolationLevel ? { isolationLevel: settings.isolationLevel } : {}),
        timeout: settings.timeoutMs,
        maxWait: settings.maxWaitMs,
      })
    } catch (error) {
      if (!isWriteConflict(error)) throw error
      if (attempt >= settings.maxRetries) throw transactionConflict()
      hooks.onRetry?.(attempt + 1, error)
      await sleep(backoffMs(attempt))
    }
  }
}

/** Full jitter: a random wait up to 10 ms × 2^attempt, capped at 200 ms. */
function backoffMs (attempt: number): number {
  return Math.random() * Math.min(200, 10 * 2 ** attempt)
}
