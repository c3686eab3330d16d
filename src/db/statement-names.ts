import { createHash } from 'node:crypto'

/** What the pg adapter asks for a name; undefined leaves the statement unnamed (pg's default). */
export type StatementNamer = (query: { sql: string, args: readonly unknown[] }) => string | undefined

/** Distinct statement texts that get a name; past it, statements run unnamed as before. */
const MAX_NAMED_STATEMENTS = 500

/**
 * Names for PostgreSQL prepared statements, one per distinct SQL text, for the pg adapter's
 * `statementNameGenerator`: pg then sends Parse once per connection and PostgreSQL reuses the
 * parsed statement (and, after a few runs, a generic plan) instead of parsing and planning
 * every query. Prisma parameterizes values, so the texts are few (one per query shape); the
 * cap bounds memory on both sides should an unusual caller produce many shapes.
 *
 * Statements without parameters (BEGIN, COMMIT, ROLLBACK) stay unnamed: pg sends them with
 * the simple protocol, one message, which is cheaper than preparing them.
 *
 * A name is a digest of its text, not a counter: every process names one text alike, so a
 * server connection that a pooler hands from one instance to another can lack a name (an
 * error, -32011, logged with the setting) but never hold it for another statement, which a
 * counter's `user_rpc_1` could (another instance's INSERT run with this one's parameters).
 *
 * Named statements live in a server session, so they are opt-in (DATABASE_PREPARED_STATEMENTS):
 * a transaction-mode PgBouncer before 1.21 cannot carry them.
 */
export function preparedStatementNames (): StatementNamer {
  const names = new Map<string, string>()
  return (query) => {
    if (query.args.length === 0) return undefined
    let name = names.get(query.sql)
    if (name === undefined && names.size < MAX_NAMED_STATEMENTS) {
      // Once per distinct text; later calls take the name from the map.
      name = `user_rpc_${createHash('sha256').update(query.sql).digest('hex').slice(0, 32)}`
      names.set(query.sql, name)
    }
    return name
  }
}
