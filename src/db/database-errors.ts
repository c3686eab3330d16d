/**
 * What the service knows about database errors, whichever client raised them: Prisma, its pg
 * driver adapter, pg itself, or the server's SQLSTATE. The transaction wrapper retries write
 * conflicts; the call boundary answers -32011 for an unavailable database; read routing
 * (read-routing.ts) falls back to the primary when a replica is unavailable.
 */

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

// invalid_sql_statement_name ("prepared statement … does not exist") and
// duplicate_prepared_statement ("… already exists").
const LOST_STATEMENT_SQLSTATES = new Set(['26000', '42P05'])

/**
 * When a named prepared statement was missing, or already there, on the server connection
 * the statement reached (what a transaction-mode pooler that does not carry named statements,
 * PgBouncer before 1.21, does to them): the server's SQLSTATE and words, for the log. The
 * transaction was rolled back; the cure is DATABASE_PREPARED_STATEMENTS=false.
 */
export function statementLostByPooler (error: unknown): string | undefined {
  for (const link of chain(error)) {
    const { originalCode, originalMessage } = link as { originalCode?: string, originalMessage?: string }
    if (originalCode && LOST_STATEMENT_SQLSTATES.has(originalCode)) return `${originalCode}: ${originalMessage ?? link.message ?? ''}`
    if (link.code && LOST_STATEMENT_SQLSTATES.has(link.code)) return `${link.code}: ${link.message ?? ''}`
  }
  return undefined
}

// Prisma's "table does not exist" and "column does not exist", and the server's SQLSTATEs for
// them: undefined_table and undefined_column.
const MISSING_SCHEMA_PRISMA_CODES = new Set(['P2021', 'P2022'])
const MISSING_SCHEMA_SQLSTATES = new Set(['42P01', '42703'])

/**
 * When a statement named a table or column the database does not have: its schema is behind
 * this build (the shipped migrations were not applied). The code and words, for the log; the
 * cure is to apply them.
 */
export function schemaBehind (error: unknown): string | undefined {
  for (const link of chain(error)) {
    const { originalCode, originalMessage } = link as { originalCode?: string, originalMessage?: string }
    if (originalCode && MISSING_SCHEMA_SQLSTATES.has(originalCode)) return `${originalCode}: ${originalMessage ?? link.message ?? ''}`
    if (link.code && (MISSING_SCHEMA_PRISMA_CODES.has(link.code) || MISSING_SCHEMA_SQLSTATES.has(link.code))) return describeError(link)
  }
  return undefined
}

// Prisma's codes for "cannot reach / timed out / lost the server / no transaction slot".
const UNAVAILABLE_PRISMA_CODES = new Set(['P1001', 'P1002', 'P1008', 'P1017', 'P2024', 'P2028'])
const UNAVAILABLE_SYSTEM_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND', 'EPIPE', '57P01', '57P02', '57P03', '53300'])
const UNAVAILABLE_KINDS = new Set(['DatabaseNotReachable', 'DatabaseUnreachable', 'ConnectionClosed', 'SocketTimeout', 'TooManyConnections', 'TransactionStartTimeout'])

/** A write on a server that is (now) a standby, a demoted primary: multi-host.ts drops the connection. */
export const READ_ONLY_SQLSTATE = '25006'

/** The code multi-host.ts gives a connection when no host of the URL has the session it asks for. */
export const NO_SUITABLE_HOST = 'ENOSUITABLEHOST'

/** Whether the database could not be reached or had no capacity for this call. */
export function isUnavailable (error: unknown): boolean {
  for (const link of chain(error)) {
    if (link.name === 'PrismaClientInitializationError') return true
    if (link.code && (UNAVAILABLE_PRISMA_CODES.has(link.code) || UNAVAILABLE_SYSTEM_CODES.has(link.code))) return true
    const originalCode = (link as { originalCode?: string }).originalCode ?? link.code
    if (originalCode === READ_ONLY_SQLSTATE || originalCode === NO_SUITABLE_HOST) return true
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

/**
 * An error's code and first line: enough for a log line that must stay short, without the
 * connection details Prisma may add below it.
 */
export function describeError (error: unknown): string {
  const { code, message } = error as { code?: unknown, message?: unknown }
  const firstLine = typeof message === 'string' ? message.split('\n', 1)[0] : String(error)
  return typeof code === 'string' ? `${code}: ${firstLine}` : `${firstLine}`
}
