import { afterAll, describe, expect, it } from 'vitest'
import { jsonRpcRefusals } from '../src/rpc/http-route.js'
import { buildTestApp, call, type TestApp } from './support/clients.js'
import pg from 'pg'
import { adminDatabaseUrl, adminQuery, createOwnDatabase, insertUser, lockRow, query, readUser, refusingDatabaseUrl, uniqueName, waitForBlockedCalls, withDatabase, type Session } from './support/database.js'

/**
 * README, API: Errors. What a client sees when something goes wrong that is not its fault:
 * a stable code and a generic message; the detail goes to the log only.
 */

const apps: TestApp[] = []
const cleanups: Array<() => Promise<void>> = []
afterAll(async () => {
  for (const cleanup of cleanups) await cleanup()
  for (const app of apps) await app.close()
})

describe('unexpected failures', () => {
  it('when the database cancels a call\'s statement, then the client gets -32603 and nothing else, the log the detail, and nothing is written', async () => {
    const app = await buildTestApp()
    apps.push(app)
    const { id } = await insertUser()
    const lock: Session = await lockRow(id)
    cleanups.push(() => lock.end('ROLLBACK'))
    const answer = call(app, 'user.update', { id, firstName: 'cancelled' })
    const [backend] = await waitForBlockedCalls(app.applicationName, { by: lock.pid })
    // SQLSTATE 57014 from the server, an error the service has no mapping for.
    await query('SELECT pg_cancel_backend($1)', [backend])

    const { status, body } = await answer
    expect(status).toBe(200)
    expect(body).toEqual({ jsonrpc: '2.0', id: 1, error: { code: -32603, message: 'Internal error' } })
    const failure = app.logLines.find((line) => line.msg === 'rpc call failed')
    expect(failure).toMatchObject({ level: 50, rpcMethod: 'user.update' })
    expect(JSON.stringify(failure?.err)).toMatch(/canceling statement due to user request|57014/)
    await lock.end('ROLLBACK')
    expect((await readUser(id))?.first_name).toBeNull()
  })

  it('when nothing listens at the database address, then calls fail fast with -32011 and no driver text', async () => {
    const refusing = await refusingDatabaseUrl()
    cleanups.push(refusing.close)
    const app = await buildTestApp({ DATABASE_CONNECT_TIMEOUT_MS: '60000' }, { databaseUrl: refusing.url })
    apps.push(app)
    const started = performance.now()
    const { status, body } = await call(app, 'user.get', { id: 1 })
    // A refused connection is known at once: nothing waits for DATABASE_CONNECT_TIMEOUT_MS.
    expect(performance.now() - started).toBeLessThan(20_000)
    expect(status).toBe(200)
    expect(body).toEqual({ jsonrpc: '2.0', id: 1, error: { code: -32011, message: 'Database unavailable', data: { retryable: true } } })
    expect(app.logLines).toContainEqual(expect.objectContaining({ msg: 'database unavailable', rpcMethod: 'user.get' }))
  })

  it('when an HTTP route fails outside any call, then 500 with -32603 on a JSON-RPC route and a bare error elsewhere, and the detail is in the log only', async () => {
    const app = await buildTestApp({}, {
      shareMetrics: () => async () => { throw new Error('metrics renderer broke: detail-5c1e') },
      // A JSON-RPC route of the test's own, whose handler fails as no route of the service's can.
      beforeReady: (scope) => scope.post('/rpc-failing', { config: { refusals: jsonRpcRefusals } }, async () => { throw new Error('route broke: detail-5c1e') }),
    })
    apps.push(app)

    const rpc = await app.inject({ method: 'POST', url: '/rpc-failing' })
    expect(rpc.statusCode).toBe(500)
    expect(rpc.headers['content-type']).toBe('application/json; charset=utf-8')
    expect(rpc.json()).toEqual({ jsonrpc: '2.0', id: null, error: { code: -32603, message: 'Internal error' } })
    const metrics = await app.inject({ method: 'GET', url: '/metrics' })
    expect(metrics.statusCode).toBe(500)
    expect(metrics.json()).toEqual({ error: 'Internal Server Error' })
    const logged = app.logLines.filter((line) => line.msg === 'request failed')
    expect(logged.map((line) => [line.level, (line.err as { message?: string }).message])).toEqual([
      [50, 'route broke: detail-5c1e'],
      [50, 'metrics renderer broke: detail-5c1e'],
    ])
  })
})

describe('a database without this build\'s migrations', () => {
  const SCHEMA_BEHIND = "the database's schema is behind this build: apply its migrations (npm run db:migrate, or the migrate image) or set MIGRATE_ON_START=true"
  const unavailableAnswer = (id: number) => ({ jsonrpc: '2.0', id, error: { code: -32011, message: 'Database unavailable', data: { retryable: true } } })

  it('when the database has none of the tables, then calls answer -32011, not -32603, and the log names the cause and the cure', async () => {
    const adminUrl = adminDatabaseUrl()
    const name = uniqueName('user_rpc_unmigrated').replaceAll('-', '_')
    await adminQuery(adminUrl, `CREATE DATABASE ${pg.escapeIdentifier(name)}`)
    cleanups.push(async () => { await adminQuery(adminUrl, `DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`) })
    const app = await buildTestApp({}, { databaseUrl: withDatabase(adminUrl, name) })
    apps.push(app)

    for (const [method, params] of [['user.get', { id: 1 }], ['user.create', { login: 'unmigrated' }], ['get_user', [1]]] as const) {
      const { status, body } = await call(app, method, params)
      expect(status).toBe(200)
      expect(body, method).toEqual(unavailableAnswer(1))
    }
    const logged = app.logLines.filter((line) => line.msg === SCHEMA_BEHIND)
    expect(logged).toHaveLength(3)
    expect(logged[0]).toMatchObject({ level: 50, rpcMethod: 'user.get' })
    expect(String(logged[0]?.reason)).toMatch(/P2021|42P01/)
    expect(app.logLines.some((line) => line.msg === 'rpc call failed')).toBe(false)
  })

  it('when the users table lacks a column this build writes, then a create answers -32011 and writes nothing', async () => {
    const database = await createOwnDatabase('user_rpc_behind')
    cleanups.push(database.drop)
    await adminQuery(database.url, 'ALTER TABLE users DROP COLUMN version')
    const app = await buildTestApp({}, { databaseUrl: database.url })
    apps.push(app)

    const { body } = await call(app, 'user.create', { login: 'behind' })
    expect(body).toEqual(unavailableAnswer(1))
    expect(String(app.logLines.find((line) => line.msg === SCHEMA_BEHIND)?.reason)).toMatch(/P2022|42703/)
    expect(await adminQuery(database.url, 'SELECT count(*)::int AS n FROM users')).toEqual([{ n: 0 }])
  })
})
