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

/** Each prepared statement's name by its text. */
async function namesByText (app: TestApp): Promise<Map<string, string>> {
  const { rows } = await app.dbPool.query<{ name: string, statement: string }>(
    "SELECT name, statement FROM pg_prepared_statements WHERE name LIKE 'user_rpc_%'"
  )
  return new Map(rows.map((row) => [row.statement, row.name]))
}

describe('prepared statements', () => {
  it('when DATABASE_PREPARED_STATEMENTS is unset (the default, safe behind any pooler), then nothing is prepared', async () => {
    const app = await buildTestApp({ DATABASE_POOL_MAX: '1' })
    apps.push(app)
    const created = await call(app, 'user.create', { login: uniqueLogin('ps') })
    expect((await call(app, 'user.get', { id: created.body.result.id })).body.result.id).toBe(created.body.result.id)
    expect(await namedStatements(app)).toEqual([])
  })

  it('when they are turned on, then each query shape is prepared once on a connection and reused', async () => {
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

  it('when two instances prepare the same statements in another order, then each text gets the same name in both (a pooled connection never runs another statement under a name)', async () => {
    const first = await buildTestApp({ DATABASE_POOL_MAX: '1', DATABASE_PREPARED_STATEMENTS: 'true' })
    const second = await buildTestApp({ DATABASE_POOL_MAX: '1', DATABASE_PREPARED_STATEMENTS: 'true' })
    apps.push(first, second)
    const created = await call(first, 'user.create', { login: uniqueLogin('ps') })
    expect((await call(first, 'user.get', { id: created.body.result.id })).body.result.id).toBe(created.body.result.id)
    expect((await call(second, 'user.get', { id: created.body.result.id })).body.result.id).toBe(created.body.result.id)
    expect((await call(second, 'user.create', { login: uniqueLogin('ps') })).body.error).toBeUndefined()
    const [names1, names2] = [await namesByText(first), await namesByText(second)]
    expect(names1.size).toBeGreaterThanOrEqual(2)
    expect(names2).toEqual(names1)
  })
})
