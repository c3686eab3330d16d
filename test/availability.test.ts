import { afterAll, describe, expect, inject, it } from 'vitest'
import { buildApp } from '../src/app.js'
import { loadConfig } from '../src/config.js'
import { freePort } from '../src/db/embedded-postgres.js'
import { createDatabase } from '../src/db/prisma-client.js'
import { call } from './helpers.js'
import { scope, testMethod, testRpcServer } from './rpc-fixtures.js'

const closers: Array<() => Promise<void>> = []
afterAll(async () => { for (const close of closers) await close() })

describe('a database that cannot serve', () => {
  it('when nothing listens at the database address, then calls fail fast with -32011 and no driver text', async () => {
    const port = await freePort()
    const url = `postgresql://nobody:secret@127.0.0.1:${port}/nothing`
    const config = loadConfig({ DATABASE_URL: url, DATABASE_CONNECT_TIMEOUT_MS: '500' })
    const app = await buildApp({ config, databaseUrl: url })
    closers.push(() => app.close())
    const started = performance.now()
    const { status, body } = await call(app, 'user.get', { id: 1 })
    expect(performance.now() - started).toBeLessThan(5000)
    expect(status).toBe(200)
    expect(body.error).toEqual({ code: -32011, message: 'Database unavailable', data: { retryable: true } })
  })

  it('when every pool connection is held, then a new call gets -32011 instead of waiting forever', async () => {
    const database = createDatabase({ url: inject('databaseUrl'), max: 1, connectTimeoutMs: 300, preparedStatements: true })
    closers.push(() => database.close())
    let release!: () => void
    const held = new Promise<void>((resolve) => { release = resolve })
    let entered!: () => void
    const inside = new Promise<void>((resolve) => { entered = resolve })
    const rpc = testRpcServer(database.prisma, {
      'test.hold': testMethod(async (_params, { tx }) => {
        await tx.$queryRawUnsafe('SELECT 1')
        entered()
        await held
        return 1
      }),
    }, { transaction: { timeoutMs: 10_000, maxWaitMs: 300, maxRetries: 0 }, batchConcurrency: 1 })
    const first = rpc.handle({ jsonrpc: '2.0', method: 'test.hold', id: 1 }, scope)
    await inside
    const second = await rpc.handle({ jsonrpc: '2.0', method: 'test.hold', id: 2 }, scope)
    expect(second).toEqual({ jsonrpc: '2.0', id: 2, error: { code: -32011, message: 'Database unavailable', data: { retryable: true } } })
    release()
    expect(await first).toEqual({ jsonrpc: '2.0', id: 1, result: 1 })
  })

  it('when in-flight calls reach RPC_MAX_IN_FLIGHT, then the next one gets -32011 at once, and a drain waits for the first', async () => {
    const database = createDatabase({ url: inject('databaseUrl'), max: 2, connectTimeoutMs: 1000, preparedStatements: true })
    closers.push(() => database.close())
    let release!: () => void
    const held = new Promise<void>((resolve) => { release = resolve })
    const rpc = testRpcServer(database.prisma, {
      'test.wait': testMethod(async () => { await held; return 1 }),
    }, { maxInFlight: 1, batchConcurrency: 1 })
    const first = rpc.handle({ jsonrpc: '2.0', method: 'test.wait', id: 1 }, scope)
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(rpc.inFlight).toBe(1)
    expect(await rpc.handle({ jsonrpc: '2.0', method: 'test.wait', id: 2 }, scope))
      .toEqual({ jsonrpc: '2.0', id: 2, error: { code: -32011, message: 'Server overloaded', data: { retryable: true } } })
    let drained = false
    const draining = rpc.drain().then(() => { drained = true })
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(drained).toBe(false)
    release()
    expect(await first).toEqual({ jsonrpc: '2.0', id: 1, result: 1 })
    await draining
    expect(drained).toBe(true)
  })
})
