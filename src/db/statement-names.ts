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
 * Named statements live in a server session, so they must be off behind a transaction-mode
 * PgBouncer older than 1.21 (DATABASE_PREPARED_STATEMENTS=false).
 */
export function preparedStatementNames (): StatementNamer {
  const names = new Map<string, string>()
  return (query) => {
    if (query.args.length === 0) return undefined
    let name = names.get(query.sql)
    if (name === undefined && names.size < MAX_NAMED_STATEMENTS) {
      name = `user_rpc_${names.size + 1}`
      names.set(query.sql, name)
    }
    return name
  }
}
