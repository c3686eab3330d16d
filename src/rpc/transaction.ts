import { setTimeout as sleep } from 'node:timers/promises'
import type { IsolationLevel } from '../config.js'
import type { Prisma, PrismaClient } from '../generated/prisma/client.js'
import { transactionConflict } from './errors.js'

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
  prisma: PrismaClient,
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

interface ErrorLike {
  name?: string
  code?: string
  message?: string
  cause?: unknown
  meta?: { driverAdapterError?: unknown }
}

/** Walks an error and the causes Prisma and the adapter wrap around it. */
function * chain (error: unknown): Generator<ErrorLike> {
  const seen = new Set<unknown>()
  let current = error
  while (current && typeof current === 'object' && !seen.has(current)) {
    seen.add(current)
    const link = current as ErrorLike
    yield link
    current = link.cause ?? link.meta?.driverAdapterError
  }
}

const WRITE_CONFLICT_SQLSTATES = new Set(['40001', '40P01'])

/** P2034, SQLSTATE 40001/40P01, or the pg adapter's TransactionWriteConflict. */
export function isWriteConflict (error: unknown): boolean {
  for (const link of chain(error)) {
    if (link.code === 'P2034') return true
    if ((link as { kind?: string }).kind === 'TransactionWriteConflict') return true
    const originalCode = (link as { originalCode?: string }).originalCode
    if (originalCode && WRITE_CONFLICT_SQLSTATES.has(originalCode)) return true
    if (link.code && WRITE_CONFLICT_SQLSTATES.has(link.code)) return true
  }
  return false
}

// Prisma's codes for "cannot reach / timed out / lost the server / no transaction slot".
const UNAVAILABLE_PRISMA_CODES = new Set(['P1001', 'P1002', 'P1008', 'P1017', 'P2024', 'P2028'])
const UNAVAILABLE_SYSTEM_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND', 'EPIPE', '57P01', '57P02', '57P03', '53300'])
const UNAVAILABLE_KINDS = new Set(['DatabaseNotReachable', 'DatabaseUnreachable', 'ConnectionClosed', 'SocketTimeout', 'TooManyConnections', 'TransactionStartTimeout'])

/** Whether the database could not be reached or had no capacity for this call. */
export function isUnavailable (error: unknown): boolean {
  for (const link of chain(error)) {
    if (link.name === 'PrismaClientInitializationError') return true
    if (link.code && (UNAVAILABLE_PRISMA_CODES.has(link.code) || UNAVAILABLE_SYSTEM_CODES.has(link.code))) return true
    const kind = (link as { kind?: string }).kind
    if (kind && UNAVAILABLE_KINDS.has(kind)) return true
    const message = link.message ?? ''
    // pg's own words for a lost connection: "Connection terminated…", and "…is not queryable"
    // for a query sent on a client whose connection already broke (mid-transaction, as the
    // server dies).
    if (/timeout exceeded when trying to connect|Connection terminated|is not queryable|Transaction API error|Unable to start a transaction/i.test(message)) return true
  }
  return false
}
