import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { createDatabase, type DatabaseHandle } from '../src/db/prisma-client.js'
import { runInTransaction } from '../src/rpc/transaction.js'
import { uniqueLogin } from './helpers.js'
import { scope, testMethod, testRpcServer } from './rpc-fixtures.js'

let database: DatabaseHandle
beforeAll(() => {
  database = createDatabase({ url: inject('databaseUrl'), max: 4, connectTimeoutMs: 2000, preparedStatements: true })
})
afterAll(async () => { await database.close() })

const settings = { timeoutMs: 5000, maxWaitMs: 2000, maxRetries: 3 }

describe('the transaction wrapper', () => {
  it('when an isolation level is configured, then the transaction runs at it; unset, at the server default', async () => {
    const levelUnder = async (isolationLevel?: 'Serializable' | 'RepeatableRead') => {
      const rows = await runInTransaction(database.prisma, { ...settings, isolationLevel }, (tx) =>
        tx.$queryRawUnsafe<Array<{ transaction_isolation: string }>>('SHOW transaction_isolation'))
      return rows[0]?.transaction_isolation
    }
    expect(await levelUnder('Serializable')).toBe('serializable')
    expect(await levelUnder('RepeatableRead')).toBe('repeatable read')
    expect(await levelUnder()).toBe('read committed')
  })

  it('when a handler throws after writing, then the row is rolled back and the client sees -32603 only', async () => {
    const login = uniqueLogin('rollback')
    const rpc = testRpcServer(database.prisma, {
      'test.writeThenThrow': testMethod(async ({ login }, { tx }) => {
        await tx.user.create({ data: { login: login ?? '' } })
        expect(await tx.user.count({ where: { login } })).toBe(1)
        throw new Error('secret detail: connection string postgres://x')
      }),
    })
    const answer = await rpc.handle({ jsonrpc: '2.0', method: 'test.writeThenThrow', params: { login }, id: 1 }, scope)
    expect(answer).toEqual({ jsonrpc: '2.0', id: 1, error: { code: -32603, message: 'Internal error' } })
    expect(await database.prisma.user.count({ where: { login } })).toBe(0)
  })

  it('when a write conflicts, then the whole callback is retried until it commits, and only the last attempt keeps its row', async () => {
    let attempts = 0
    const retries: string[] = []
    const rpc = testRpcServer(database.prisma, {
      'test.flaky': testMethod(async ({ login }, { tx }) => {
        attempts++
        await tx.user.create({ data: { login: `${login}-${attempts}` } })
        // A real SQLSTATE 40001 from the server, raised inside this transaction.
        if (attempts < 3) await tx.$executeRawUnsafe("DO $$ BEGIN RAISE EXCEPTION 'conflict' USING ERRCODE = '40001'; END $$")
        return attempts
      }),
    }, { observer: { onRetry: (method) => retries.push(method) } })
    const login = uniqueLogin('retry').slice(0, 26)
    const answer = await rpc.handle({ jsonrpc: '2.0', method: 'test.flaky', params: { login }, id: 7 }, scope)
    expect(answer).toEqual({ jsonrpc: '2.0', id: 7, result: 3 })
    expect(retries).toEqual(['test.flaky', 'test.flaky'])
    expect(await database.prisma.user.findMany({ where: { login: { startsWith: login } }, select: { login: true } }))
      .toEqual([{ login: `${login}-3` }])
  })

  it('when conflicts never stop, then -32010 with retryable: true', async () => {
    const rpc = testRpcServer(database.prisma, {
      'test.alwaysConflicts': testMethod(async (_params, { tx }) => {
        await tx.$executeRawUnsafe("DO $$ BEGIN RAISE EXCEPTION 'deadlock' USING ERRCODE = '40P01'; END $$")
        return null
      }),
    })
    const answer = await rpc.handle({ jsonrpc: '2.0', method: 'test.alwaysConflicts', id: 1 }, scope)
    expect(answer).toEqual({ jsonrpc: '2.0', id: 1, error: { code: -32010, message: 'Transaction conflict, retries exhausted', data: { retryable: true } } })
  })
})
