import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildTestApp, call, callLines, post, request, type TestApp } from './support/clients.js'
import { insertUser, lockRow, query, uniqueLogin, waitForBlockedCalls } from './support/database.js'

/** docs/operations.md, Logs (one pino line per call; params and keys never logged). */

const WRITER = 'writer-secret-0123456789abcdef'
const READER = 'reader-secret-0123456789abcdef'
const auth = (key: string) => ({ authorization: `Bearer ${key}` })

let app: TestApp
beforeAll(async () => { app = await buildTestApp({ API_KEYS: `billing:write:${WRITER},reports:read:${READER}` }) })
afterAll(async () => { await app.close() })

describe('the call log line', () => {
  it('when calls are made, then each logs exactly one line with its request id, rpcMethod, outcome, durationMs, transport and keyId', async () => {
    const before = callLines(app).length
    const login = uniqueLogin('logged')
    await call(app, 'user.create', { login }, 1, { ...auth(WRITER), 'x-request-id': 'single-1' })
    await post(app, [
      request('user.getByLogin', { login }, 1),
      request('user.get', { id: 2147483600 }, 2),
      request('user.create', { login: uniqueLogin('n') }),
    ], { ...auth(READER), 'x-request-id': 'batch-1' })

    const lines = callLines(app).slice(before)
    const summary = lines.map(({ reqId, rpcMethod, outcome, notification, transport, keyId }) => ({ reqId, rpcMethod, outcome, notification, transport, keyId }))
    expect(summary).toHaveLength(4)
    expect(summary[0]).toEqual({ reqId: 'single-1', rpcMethod: 'user.create', outcome: 'ok', notification: false, transport: 'jsonrpc', keyId: 'billing' })
    // Batch members run at once, so their lines may come in any order.
    expect(summary.slice(1)).toEqual(expect.arrayContaining([
      { reqId: 'batch-1', rpcMethod: 'user.getByLogin', outcome: 'ok', notification: false, transport: 'jsonrpc', keyId: 'reports' },
      { reqId: 'batch-1', rpcMethod: 'user.get', outcome: -32004, notification: false, transport: 'jsonrpc', keyId: 'reports' },
      { reqId: 'batch-1', rpcMethod: 'user.create', outcome: -32003, notification: true, transport: 'jsonrpc', keyId: 'reports' },
    ]))
    for (const line of lines) {
      expect(line.level).toBe(30)
      expect(typeof line.durationMs).toBe('number')
      expect(line.durationMs).toBeGreaterThanOrEqual(0)
    }
  })

  it('when X-Request-Id is sane, then it comes back in the header; when unsafe or absent, then a fresh UUID does', async () => {
    const send = (headers: Record<string, string>) => app.inject({ method: 'GET', url: '/healthz', headers })
    expect((await send({ 'x-request-id': 'abc-123' })).headers['x-request-id']).toBe('abc-123')
    const replaced = (await send({ 'x-request-id': 'bad id\twith\ttabs' })).headers['x-request-id']
    expect(replaced).toMatch(/^[0-9a-f-]{36}$/)
    expect((await send({})).headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/)
  })
})

describe('what is never logged', () => {
  it('when calls carry params and keys, then no log line holds either, whatever the outcome', async () => {
    const secret = (what: string) => uniqueLogin(what)
    const params = { login: secret('login'), first: secret('first'), last: secret('last'), again: secret('again'), readOnly: secret('ro'), missing: secret('missing'), bad: secret('bad'), cancelled: secret('cancelled') }
    const wrongKey = `${secret('wrong')}-0123456789abcdef`
    const { id } = await insertUser()

    await call(app, 'user.create', { login: params.login, firstName: params.first, lastName: params.last }, 1, auth(WRITER)) // ok
    await call(app, 'user.create', { login: params.login, firstName: params.again }, 2, auth(WRITER)) // -32009
    await call(app, 'user.create', { login: params.readOnly }, 3, auth(READER)) // -32003
    await call(app, 'user.getByLogin', { login: params.missing }, 4, auth(READER)) // -32004
    await call(app, 'user.create', { login: `${params.bad}\n`, firstName: 5 }, 5, auth(WRITER)) // -32602
    expect((await call(app, 'user.get', { id }, 6, auth(wrongKey))).status).toBe(401)
    // An unexpected database error (a cancelled statement) is logged with its detail: -32603.
    const lock = await lockRow(id)
    const cancelled = call(app, 'user.update', { id, firstName: params.cancelled }, 7, auth(WRITER))
    const [backend] = await waitForBlockedCalls(app.applicationName, { by: lock.pid })
    await query('SELECT pg_cancel_backend($1)', [backend])
    expect((await cancelled).body.error.code).toBe(-32603)
    await lock.end('ROLLBACK')

    expect(app.logLines.filter((line) => line.msg === 'rpc call failed')).toHaveLength(1)
    const everything = JSON.stringify(app.logLines)
    for (const [name, value] of Object.entries({ ...params, WRITER, READER, wrongKey })) expect(everything, name).not.toContain(value)
  })
})
