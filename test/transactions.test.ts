import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createDatabase, type DatabaseHandle } from '../src/db/prisma-client.js'
import { runInTransaction } from '../src/rpc/transaction.js'
import { buildTestApp, call, post, readMetric, request, type TestApp } from './support/clients.js'
import {
  countUsers,
  insertUser,
  lockRow,
  openSession,
  query,
  readUser,
  testDatabaseUrl,
  uniqueLogin,
  waitForBlockedCalls,
  waitUntilWaiting,
  type Session,
} from './support/database.js'

/**
 * README, API: Transactions. The wrapper itself (src/rpc/transaction.ts) on a pool of its own,
 * then the same rules through the service built from its settings (TX_*), with real
 * conflicts made by sessions that write the row a call is writing.
 */

describe('the transaction wrapper (src/rpc/transaction.ts)', () => {
  let database: DatabaseHandle
  beforeAll(() => {
    database = createDatabase({ url: testDatabaseUrl(), max: 4, connectTimeoutMs: 30_000, preparedStatements: true })
  })
  afterAll(async () => { await database.close() })

  // Bounds far above what any step takes, even on a loaded machine: these tests are not about them.
  const settings = { timeoutMs: 60_000, maxWaitMs: 30_000, maxRetries: 3 }

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

  it('when the work throws after writing, then the write is rolled back, as seen from another connection', async () => {
    const login = uniqueLogin('rollback')
    let wrote!: () => void
    const written = new Promise<void>((resolve) => { wrote = resolve })
    let fail!: () => void
    const failing = new Promise<void>((resolve) => { fail = resolve })
    const running = runInTransaction(database.prisma, settings, async (tx) => {
      await tx.user.create({ data: { login } })
      wrote()
      await failing
      throw new Error('the work failed')
    })
    running.catch(() => {})
    await written

    // The same login inserted from outside waits for the transaction that holds the new,
    // uncommitted row: proof that the write happened. It goes through once that row is gone.
    const outside = await openSession()
    try {
      const insert = outside.run('INSERT INTO users (login, updated_at) VALUES ($1, now())', [login])
      await Promise.race([
        waitUntilWaiting(outside.pid),
        insert.then(() => { throw new Error('the insert did not wait: nothing was written') }),
      ])
      fail()
      await expect(running).rejects.toThrow('the work failed')
      await insert
    } finally {
      await outside.end('ROLLBACK')
    }
    expect(await countUsers(login)).toBe(0)
  })

  it('when a write conflicts, then the whole work is re-run until it commits, and only the last attempt keeps its row', async () => {
    let attempts = 0
    const retries: number[] = []
    const login = uniqueLogin('retry').slice(0, 26)
    const result = await runInTransaction(database.prisma, settings, async (tx) => {
      attempts++
      await tx.user.create({ data: { login: `${login}-${attempts}` } })
      // A real SQLSTATE 40001 from the server, raised inside this transaction.
      if (attempts < 3) await tx.$executeRawUnsafe("DO $$ BEGIN RAISE EXCEPTION 'conflict' USING ERRCODE = '40001'; END $$")
      return attempts
    }, { onRetry: (attempt) => retries.push(attempt) })
    expect(result).toBe(3)
    expect(retries).toEqual([1, 2])
    expect(await query('SELECT login FROM users WHERE login LIKE $1 ORDER BY login', [`${login}-%`])).toEqual([{ login: `${login}-3` }])
  })

  it('when deadlocks never stop, then the work runs 1 + maxRetries times and then fails with -32010', async () => {
    let attempts = 0
    const running = runInTransaction(database.prisma, { ...settings, maxRetries: 2 }, async (tx) => {
      attempts++
      await tx.$executeRawUnsafe("DO $$ BEGIN RAISE EXCEPTION 'deadlock' USING ERRCODE = '40P01'; END $$")
    })
    await expect(running).rejects.toMatchObject({ code: -32010, message: 'Transaction conflict, retries exhausted', data: { retryable: true } })
    expect(attempts).toBe(3)
  })
})

describe('transactions through the service', () => {
  const apps: TestApp[] = []
  const sessions: Session[] = []
  afterAll(async () => {
    for (const session of sessions) await session.end('ROLLBACK')
    for (const app of apps) await app.close()
  })
  const service = async (env: Record<string, string>) => {
    const app = await buildTestApp(env)
    apps.push(app)
    return app
  }
  const retries = (app: TestApp) => readMetric(app, 'rpc_transaction_retries_total{method="user.update"}')

  /** A session that has updated the row and not committed: it holds the row until it ends. */
  async function holdWrite (id: number, firstName: string): Promise<Session> {
    const session = await openSession()
    sessions.push(session)
    await session.run('UPDATE users SET first_name = $2 WHERE id = $1', [id, firstName])
    return session
  }

  /**
   * Makes a call that writes row `id` meet `times` concurrent writers in a row. Each time,
   * the call's attempt waits for the session holding the row; the next session queues behind
   * the attempt; then the holder commits. At RepeatableRead or Serializable the attempt then
   * fails (the row changed after its snapshot: SQLSTATE 40001) and the queued session takes
   * the row before the re-run can, so every attempt meets one writer, whatever the timing.
   * Returns the value the last writer committed.
   */
  async function conflict (app: TestApp, id: number, first: Session, times: number): Promise<string> {
    let holder = first
    let value = 'held-0'
    for (let time = 1; time <= times; time++) {
      await waitForBlockedCalls(app.applicationName, { by: holder.pid })
      let next: { session: Session, write: Promise<unknown>, value: string } | undefined
      if (time < times) {
        const session = await openSession()
        sessions.push(session)
        next = { session, value: `held-${time}`, write: session.run('UPDATE users SET first_name = $2 WHERE id = $1', [id, `held-${time}`]) }
        await waitUntilWaiting(session.pid)
      }
      await holder.end('COMMIT')
      if (!next) break
      await next.write
      holder = next.session
      value = next.value
    }
    return value
  }

  it('when every attempt at Serializable meets a concurrent write, then the call runs 1 + TX_MAX_RETRIES times and answers -32010', async () => {
    const app = await service({ TX_ISOLATION_LEVEL: 'Serializable', TX_MAX_RETRIES: '2' })
    const { id } = await insertUser()
    const before = await retries(app)
    const first = await holdWrite(id, 'held-0')
    const answer = call(app, 'user.update', { id, firstName: 'service' })
    const committed = await conflict(app, id, first, 3)

    expect((await answer).body.error).toEqual({ code: -32010, message: 'Transaction conflict, retries exhausted', data: { retryable: true } })
    expect(await retries(app) - before).toBe(2)
    expect((await readUser(id))?.first_name).toBe(committed)
  })

  it('when the conflicts stop within TX_MAX_RETRIES, then the call commits after exactly one re-run per conflict', async () => {
    const app = await service({ TX_ISOLATION_LEVEL: 'Serializable', TX_MAX_RETRIES: '2' })
    const { id } = await insertUser()
    const before = await retries(app)
    const first = await holdWrite(id, 'held-0')
    const answer = call(app, 'user.update', { id, firstName: 'service' })
    await conflict(app, id, first, 2)

    expect((await answer).body.result).toMatchObject({ id, firstName: 'service' })
    expect(await retries(app) - before).toBe(2)
    expect((await readUser(id))?.first_name).toBe('service')
  })

  it('when TX_ISOLATION_LEVEL is unset (read committed), then a concurrent write is waited for, not a conflict', async () => {
    const app = await service({})
    const { id } = await insertUser()
    const before = await retries(app)
    const first = await holdWrite(id, 'held-0')
    const answer = call(app, 'user.update', { id, firstName: 'service' })
    await conflict(app, id, first, 1)

    expect((await answer).body.result).toMatchObject({ id, firstName: 'service' })
    expect(await retries(app) - before).toBe(0)
    expect((await readUser(id))?.first_name).toBe('service')
  })

  it('when two calls update one user at once at Serializable, then both are re-run and both commit, neither update lost', async () => {
    const app = await service({ TX_ISOLATION_LEVEL: 'Serializable', TX_MAX_RETRIES: '3' })
    const { id } = await insertUser()
    const before = await retries(app)
    // Both calls take their snapshots while this session holds the row, so when it commits
    // both fail (40001); their re-runs then meet each other.
    const first = await holdWrite(id, 'held-0')
    const a = call(app, 'user.update', { id, firstName: 'a' })
    await waitForBlockedCalls(app.applicationName, { by: first.pid })
    const b = call(app, 'user.update', { id, lastName: 'b' })
    await waitForBlockedCalls(app.applicationName, { count: 2 })
    await first.end('COMMIT')

    const answers = await Promise.all([a, b])
    expect(answers.map((answer) => answer.body.error)).toEqual([undefined, undefined])
    const reruns = await retries(app) - before
    expect(reruns).toBeGreaterThanOrEqual(2)
    expect(reruns).toBeLessThanOrEqual(3)
    // Neither update is lost: each re-run saw the other's commit.
    expect(await readUser(id)).toMatchObject({ first_name: 'a', last_name: 'b' })
  })

  it('when a call is still running after TX_TIMEOUT_MS, then it is rolled back, as seen from outside, and answered -32011', async () => {
    const app = await service({ TX_TIMEOUT_MS: '200' })
    const { id } = await insertUser(uniqueLogin('timeout'), 'before')
    const lock = await lockRow(id)
    sessions.push(lock)
    const answer = call(app, 'user.update', { id, firstName: 'too late' })
    await waitForBlockedCalls(app.applicationName, { by: lock.pid })
    // Prisma armed its TX_TIMEOUT_MS timer when the transaction began, before the blocked
    // statement was sent; a timer of the same length armed now fires after it, so the
    // transaction has timed out once this one has (not a guess at how long is long enough).
    await sleep(200)
    await lock.end('COMMIT')

    expect((await answer).body.error).toEqual({ code: -32011, message: 'Database unavailable', data: { retryable: true } })
    expect((await readUser(id))?.first_name).toBe('before')
  })

  it('when 20 calls create one login at once, then exactly one succeeds, the rest get -32009, one row exists', async () => {
    const app = await service({ DATABASE_POOL_MAX: '10' })
    const login = uniqueLogin('race')
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => call(app, 'user.create', { login, firstName: `n${i}` }, i)))
    const codes = answers.map(({ body }) => body.error?.code ?? 'ok')
    expect(codes.filter((code) => code === 'ok')).toHaveLength(1)
    expect(codes.filter((code) => code === -32009)).toHaveLength(19)
    expect(await countUsers(login)).toBe(1)
  })

  it('when a batch creates one login twice, then one member wins and the other gets -32009', async () => {
    const app = await service({})
    const login = uniqueLogin('batchrace')
    const { body } = await post(app, [1, 2].map((id) => request('user.create', { login }, id)))
    const outcomes = body.map((answer: { error?: { code: number } }) => answer.error?.code ?? 'ok').sort()
    expect(outcomes).toEqual([-32009, 'ok'].sort())
    expect(await countUsers(login)).toBe(1)
  })
})
