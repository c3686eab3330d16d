import pg from 'pg'
import pino from 'pino'
import { z } from 'zod'
import { afterAll, describe, expect, inject, it } from 'vitest'
import { buildApp } from '../src/app.js'
import { loadConfig } from '../src/config.js'
import { freePort } from '../src/db/embedded-postgres.js'
import { createDatabase } from '../src/db/prisma-client.js'
import { defineMethod } from '../src/rpc/method.js'
import { createRpcServer } from '../src/rpc/rpc-server.js'
import { call } from './helpers.js'

const scope = { log: pino({ level: 'silent' }), caller: { keyId: null, scope: 'write' as const } }
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
    const database = createDatabase({ url: inject('databaseUrl'), max: 1, connectTimeoutMs: 300 })
    closers.push(() => database.close())
    let release!: () => void
    const held = new Promise<void>((resolve) => { release = resolve })
    let entered!: () => void
    const inside = new Promise<void>((resolve) => { entered = resolve })
    const rpc = createRpcServer({
      methods: {
        'test.hold': defineMethod({
          summary: 'holds its connection until released',
          access: 'read',
          params: z.strictObject({}),
          result: z.number(),
          errors: [],
          examples: [],
          handler: async (_params, { tx }) => {
            await tx.$queryRawUnsafe('SELECT 1')
            entered()
            await held
            return 1
          },
        }),
      },
      db: database.prisma,
      transaction: { isolationLevel: 'ReadCommitted', timeoutMs: 10_000, maxWaitMs: 300, maxRetries: 0 },
      batchMax: 10,
      batchConcurrency: 1,
      maxInFlight: 10,
      discover: () => ({}),
    })
    const first = rpc.handle({ jsonrpc: '2.0', method: 'test.hold', id: 1 }, scope)
    await inside
    const second = await rpc.handle({ jsonrpc: '2.0', method: 'test.hold', id: 2 }, scope)
    expect(second).toEqual({ jsonrpc: '2.0', id: 2, error: { code: -32011, message: 'Database unavailable', data: { retryable: true } } })
    release()
    expect(await first).toEqual({ jsonrpc: '2.0', id: 1, result: 1 })
  })

  it('when in-flight calls reach RPC_MAX_IN_FLIGHT, then the next one gets -32011 at once', async () => {
    const database = createDatabase({ url: inject('databaseUrl'), max: 2, connectTimeoutMs: 1000 })
    closers.push(() => database.close())
    const client = new pg.Client({ connectionString: inject('databaseUrl') })
    await client.connect()
    closers.push(() => client.end())
    let release!: () => void
    const held = new Promise<void>((resolve) => { release = resolve })
    const rpc = createRpcServer({
      methods: {
        'test.wait': defineMethod({
          summary: 'waits',
          access: 'read',
          params: z.strictObject({}),
          result: z.number(),
          errors: [],
          examples: [],
          handler: async () => { await held; return 1 },
        }),
      },
      db: database.prisma,
      transaction: { isolationLevel: 'ReadCommitted', timeoutMs: 10_000, maxWaitMs: 1000, maxRetries: 0 },
      batchMax: 10,
      batchConcurrency: 1,
      maxInFlight: 1,
      discover: () => ({}),
    })
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
