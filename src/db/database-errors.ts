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

/**
 * The first code in `codes` that the error or a cause carries (the adapter's `originalCode`,
 * the server's SQLSTATE; Prisma's or pg's `code`), with its words, for the log.
 */
function codeAmong (error: unknown, codes: ReadonlySet<string>): string | undefined {
  for (const link of chain(error)) {
    const { originalCode, originalMessage } = link as { originalCode?: string, originalMessage?: string }
    if (originalCode && codes.has(originalCode)) return `${originalCode}: ${originalMessage ?? link.message ?? ''}`
    if (link.code && codes.has(link.code)) return describeError(link)
  }
  return undefined
}

// Prisma's P2034, and SQLSTATEs serialization_failure and deadlock_detected.
const WRITE_CONFLICT_CODES = new Set(['P2034', '40001', '40P01'])

/** P2034, SQLSTATE 40001/40P01, or the pg adapter's TransactionWriteConflict. */
export function isWriteConflict (error: unknown): boolean {
  if (codeAmong(error, WRITE_CONFLICT_CODES) !== undefined) return true
  for (const link of chain(error)) {
    if ((link as { kind?: string }).kind === 'TransactionWriteConflict') return true
  }
  return false
}

/** A database error the operator can fix: its code and words, and what to change. */
export interface OperatorFix {
  reason: string
  remedy: string
}

const OPERATOR_FIXES: ReadonlyArray<{ codes: ReadonlySet<string>, remedy: string }> = [
  {
    // invalid_sql_statement_name ("prepared statement … does not exist") and
    // duplicate_prepared_statement ("… already exists"): what a transaction-mode pooler that
    // does not carry named statements (PgBouncer before 1.21) does to them.
    codes: new Set(['26000', '42P05']),
    remedy: 'a named prepared statement did not survive the connection pooler: set DATABASE_PREPARED_STATEMENTS=false (needed behind PgBouncer in transaction mode before 1.21)',
  },
  {
    // Prisma's "table / column does not exist" (P2021, P2022), SQLSTATEs undefined_table and
    // undefined_column: the shipped migrations were not applied.
    codes: new Set(['P2021', 'P2022', '42P01', '42703']),
    remedy: "the database's schema is behind this build: apply its migrations (npm run db:migrate, or the migrate image) or set MIGRATE_ON_START=true",
  },
]

/**
 * When the failure is the deployment's, not a bug: a named statement lost by a pooler, or a
 * schema without this build's migrations. Either way the statement failed and its transaction
 * rolled back, and once the operator has done what `remedy` says, the same call succeeds.
 */
export function operatorFix (error: unknown): OperatorFix | undefined {
  for (const { codes, remedy } of OPERATOR_FIXES) {
    const reason = codeAmong(error, codes)
    if (reason !== undefined) return { reason, remedy }
  }
  return undefined
}

/** A write on a server that is (now) a standby, a demoted primary: multi-host.ts drops the connection. */
export const READ_ONLY_SQLSTATE = '25006'

/** The code multi-host.ts gives a connection when no host of the URL has the session it asks for. */
export const NO_SUITABLE_HOST = 'ENOSUITABLEHOST'

const UNAVAILABLE_CODES = new Set([
  // Prisma's "cannot reach / timed out / lost the server / no transaction slot".
  'P1001', 'P1002', 'P1008', 'P1017', 'P2024', 'P2028',
  // The socket's, and the server's: shut down, starting up, too many connections.
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND', 'EPIPE', '57P01', '57P02', '57P03', '53300',
  READ_ONLY_SQLSTATE, NO_SUITABLE_HOST,
])
const UNAVAILABLE_KINDS = new Set(['DatabaseNotReachable', 'DatabaseUnreachable', 'ConnectionClosed', 'SocketTimeout', 'TooManyConnections', 'TransactionStartTimeout'])

/** Whether the database could not be reached or had no capacity for this call. */
export function isUnavailable (error: unknown): boolean {
  if (codeAmong(error, UNAVAILABLE_CODES) !== undefined) return true
  for (const link of chain(error)) {
    if (link.name === 'PrismaClientInitializationError') return true
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
