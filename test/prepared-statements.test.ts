import { afterAll, describe, expect, it } from 'vitest'
import { buildTestApp, call, type TestApp } from './support/clients.js'
import { uniqueLogin } from './support/database.js'

/** README, Configuration: DATABASE_PREPARED_STATEMENTS (src/db/statement-names.ts). */

const apps: TestApp[] = []
afterAll(async () => { for (const app of apps) await app.close() })

/** The prepared statements the pool's only connection holds, by the names the service gives. */
async function namedStatements (app: TestApp): Promise<string[]> {
  const { rows } = await app.dbPool.query<{ statement: string }>(
    "SELECT statement FROM pg_prepared_statements WHERE name LIKE 'user_rpc_%' ORDER BY prepare_time"
  )
  return rows.map((row) => row.statement)
}

describe('prepared statements', () => {
  it('when they are on, then each query shape is prepared once on a connection and reused', async () => {
    const app = await buildTestApp({ DATABASE_POOL_MAX: '1', DATABASE_PREPARED_STATEMENTS: 'true' })
    apps.push(app)
    const created = await call(app, 'user.create', { login: uniqueLogin('ps') })
    for (let i = 0; i < 3; i++) {
      expect((await call(app, 'user.get', { id: created.body.result.id })).body.result.id).toBe(created.body.result.id)
    }
    const statements = await namedStatements(app)
    // One INSERT and one SELECT by id, however many calls ran: not one per call.
    expect(statements.filter((sql) => /^INSERT INTO/i.test(sql))).toHaveLength(1)
    expect(statements.filter((sql) => /^SELECT/i.test(sql) && /"id" = \$1/.test(sql))).toHaveLength(1)
    // BEGIN and COMMIT go unprepared, with the simple protocol.
    expect(statements.some((sql) => /^(BEGIN|COMMIT)/i.test(sql))).toBe(false)
  })

  it('when DATABASE_PREPARED_STATEMENTS is unset (false, the default: PgBouncer before 1.21 needs it), then nothing is prepared', async () => {
    const app = await buildTestApp({ DATABASE_POOL_MAX: '1' })
    apps.push(app)
    const created = await call(app, 'user.create', { login: uniqueLogin('ps') })
    expect((await call(app, 'user.get', { id: created.body.result.id })).body.result.id).toBe(created.body.result.id)
    expect(await namedStatements(app)).toEqual([])
  })
})
