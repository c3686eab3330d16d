import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openDatabase, type DatabaseHandle } from '../src/db/prisma-client.js'
import { runInTransaction } from '../src/rpc/transaction.js'
import { buildTestApp, call, endedAfterAll, listen, post, readMetric, request, type TestApp } from './support/clients.js'
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
 * docs/api.md, Transactions. The wrapper itself (src/rpc/transaction.ts) on a pool of its own,
 * then the same rules through the service built from its settings (TX_*), with real
 * conflicts made by sessions that write the row a call is writing; then contention from many
 * clients at once (docs/reliability.md), prisma/orm#30374 included.
 */

describe('the transaction wrapper (src/rpc/transaction.ts)', () => {
  let database: DatabaseHandle
  beforeAll(() => {
    database = openDatabase({ url: testDatabaseUrl(), max: 4, connectTimeoutMs: 30_000, preparedStatements: true })
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
  const { service, kept } = endedAfterAll()
  const retries = (app: TestApp) => readMetric(app, 'rpc_transaction_retries_total{method="user.update"}')

  /** A session that has updated the row and not committed: it holds the row until it ends. */
  async function holdWrite (id: number, firstName: string): Promise<Session> {
    const session = await openSession()
    kept(session)
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
        kept(session)
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
    kept(lock)
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

  // Prisma's own start timeout (maxWait), which patches/…+002+transaction-start.patch reworks:
  // the pool's bound is set far above it, so only maxWait can end the wait.
  it('when no connection frees up within TX_MAX_WAIT_MS, then the call is answered -32011, and the start it gave up on does not keep the connection', async () => {
    const app = await service({ DATABASE_POOL_MAX: '1', DATABASE_CONNECT_TIMEOUT_MS: '60000', TX_MAX_WAIT_MS: '300' })
    const { id } = await insertUser(uniqueLogin('maxwait'), 'before')
    const lock = await lockRow(id)
    kept(lock)
    const holding = call(app, 'user.update', { id, firstName: 'held' })
    await waitForBlockedCalls(app.applicationName, { by: lock.pid })

    const started = performance.now()
    const refused = await call(app, 'user.get', { id }, 2)
    expect(refused.body.error).toEqual({ code: -32011, message: 'Database unavailable', data: { retryable: true } })
    expect(performance.now() - started).toBeGreaterThanOrEqual(250)
    await lock.end('COMMIT')
    expect((await holding).body.result).toMatchObject({ id, firstName: 'held' })
    // The abandoned start got the pool's only connection once it was free, then rolled back
    // and released it: were it kept, this call would wait for the 60 s connect timeout.
    expect((await call(app, 'user.get', { id }, 3)).body.result).toMatchObject({ id, firstName: 'held' })
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

// ---- docs/reliability.md: contention ----------------------------------------------------
// Many clients over real sockets, fighting over a handful of logins: uniqueness holds, every
// call ends in a result or a documented error, none hangs, and retries stay within what
// TX_MAX_RETRIES allows. Every login here is unique to this file, and only ids it created
// are written.

const served: TestApp[] = []
afterAll(async () => { for (const app of served) await app.close() })

/** The service built from `env`, listening on 127.0.0.1: its /rpc and /metrics URLs. */
async function serve (env: Record<string, string>) {
  const app = await buildTestApp(env)
  served.push(app)
  const address = await listen(app)
  return { url: `${address}/rpc`, metricsUrl: `${address}/metrics` }
}

interface User { id: number, login: string, firstName: string | null, lastName: string | null, createdAt: string, updatedAt: string }
type CallOutcome = { result: User } | { error: { code: number } } | { hung: true }

/** One call; a call that takes longer than the limit is an outcome of its own, not a wait. */
async function callOver (url: string, method: string, params: unknown): Promise<CallOutcome> {
  try {
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', method, params, id: 1 }),
      signal: AbortSignal.timeout(30_000),
    })
    return await response.json() as CallOutcome
  } catch (error) {
    if ((error as Error).name === 'TimeoutError') return { hung: true }
    throw error
  }
}

/** The sum of a counter's samples in Prometheus text. */
async function counter (metricsUrl: string, name: string): Promise<number> {
  const text = await (await fetch(metricsUrl)).text()
  return text.split('\n').filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0)
}

const pick = <T>(items: readonly T[]): T => items[Math.floor(Math.random() * items.length)] as T

const CLIENTS = 12
const CALLS_PER_CLIENT = 20
const MAX_RETRIES = 3

describe.each(['ReadCommitted', 'Serializable'])('at %s', (isolation) => {
  it('when many clients create, rename, delete and read users over three logins at once, then logins stay unique, every call ends in a result or a documented error, none hangs, and retries stay bounded', async () => {
    const { url, metricsUrl } = await serve({ TX_ISOLATION_LEVEL: isolation, DATABASE_POOL_MAX: '6', TX_MAX_RETRIES: String(MAX_RETRIES) })
    const logins = Array.from({ length: 3 }, () => uniqueLogin('fight'))
    const ids: number[] = []
    const codes: Record<string, number> = {}
    const wrong: string[] = []
    const count = (key: string) => { codes[key] = (codes[key] ?? 0) + 1 }

    /** Every answer: its code counted, and a result checked against what was asked. */
    const judge = (what: string, answer: CallOutcome, allowed: number[], expected: Partial<User>) => {
      if ('hung' in answer) return count('hung')
      if ('error' in answer) {
        count(String(answer.error.code))
        if (!allowed.includes(answer.error.code)) wrong.push(`${what}: ${answer.error.code}`)
        return
      }
      count('ok')
      for (const [key, value] of Object.entries(expected)) {
        if (answer.result[key as keyof User] !== value) wrong.push(`${what}: ${key} ${String(answer.result[key as keyof User])}, asked ${String(value)}`)
      }
      if (!ids.includes(answer.result.id)) ids.push(answer.result.id)
    }

    // Any call may also meet a conflict its retries could not resolve (-32010) or a busy pool (-32011).
    const RETRYABLE = [-32010, -32011]
    const operations = [
      async () => { const login = pick(logins); judge('create', await callOver(url, 'user.create', { login }), [-32009, ...RETRYABLE], { login }) },
      async () => {
        if (ids.length === 0) return
        const id = pick(ids)
        const login = pick(logins)
        judge('rename', await callOver(url, 'user.update', { id, login }), [-32004, -32009, ...RETRYABLE], { id, login })
      },
      async () => {
        if (ids.length === 0) return
        const id = pick(ids)
        const answer = await callOver(url, 'user.delete', { id })
        judge('delete', answer, [-32004, ...RETRYABLE], { id })
        // Gone for good: later calls aim at the rows that are left, where the contention is.
        if ('result' in answer || ('error' in answer && answer.error.code === -32004)) ids.splice(ids.indexOf(id), 1)
      },
      async () => {
        if (ids.length === 0) return
        const id = pick(ids)
        judge('touch', await callOver(url, 'user.update', { id, firstName: `touched-${Math.random()}` }), [-32004, ...RETRYABLE], { id })
      },
      async () => { if (ids.length > 0) { const id = pick(ids); judge('get', await callOver(url, 'user.get', { id }), [-32004, ...RETRYABLE], { id }) } },
      async () => { const login = pick(logins); judge('getByLogin', await callOver(url, 'user.getByLogin', { login }), [-32004, ...RETRYABLE], { login }) },
    ]

    const retriesBefore = await counter(metricsUrl, 'rpc_transaction_retries_total')
    let uniquenessChecks = 0
    let done = false
    const watcher = (async () => {
      // Meanwhile, the table itself: never two rows with one login.
      for (;;) {
        if (done) return
        const page = await callOver(url, 'user.list', { limit: 100, loginPrefix: 'fight-' }) as unknown as { result: { items: User[] } }
        const seen = page.result.items.map((user) => user.login).filter((login) => logins.includes(login))
        if (new Set(seen).size !== seen.length) wrong.push(`two rows with one login: ${seen.join(', ')}`)
        uniquenessChecks++
      }
    })()
    const started = performance.now()
    await Promise.all(Array.from({ length: CLIENTS }, async () => {
      for (let made = 0; made < CALLS_PER_CLIENT; made++) await pick(operations)()
    }))
    const seconds = (performance.now() - started) / 1000
    done = true
    await watcher
    const retries = await counter(metricsUrl, 'rpc_transaction_retries_total') - retriesBefore
    const calls = Object.values(codes).reduce((sum, n) => sum + n, 0)
    console.info(`contention at ${isolation}: ${calls} calls in ${seconds.toFixed(1)} s, outcomes ${JSON.stringify(codes)}, ${retries} retries, ${uniquenessChecks} uniqueness checks`)

    expect(wrong).toEqual([])
    expect(codes.hung).toBeUndefined()
    expect(codes['-32603']).toBeUndefined()
    expect(codes.ok).toBeGreaterThan(0)
    expect(codes['-32009']).toBeGreaterThan(0)
    expect(uniquenessChecks).toBeGreaterThan(0)
    // Each call re-runs at most TX_MAX_RETRIES times, and those that ran out said so.
    expect(retries).toBeLessThanOrEqual(calls * MAX_RETRIES)
    expect(codes['-32010'] ?? 0).toBeLessThanOrEqual(retries / MAX_RETRIES)
  }, 120_000)
})

describe('one row, many writers, at Serializable', () => {
  it('when twelve clients update the same user at once with TX_MAX_RETRIES=1, then each call ends ok or -32010, re-runs at most once, and the row holds a value one of them wrote', async () => {
    const { url, metricsUrl } = await serve({ TX_ISOLATION_LEVEL: 'Serializable', TX_MAX_RETRIES: '1', DATABASE_POOL_MAX: '12' })
    const made = await callOver(url, 'user.create', { login: uniqueLogin('hot') }) as { result: User }
    const { id } = made.result
    const retriesBefore = await counter(metricsUrl, 'rpc_transaction_retries_total')
    const written = new Set<string>()
    const outcomes: Record<string, number> = {}
    await Promise.all(Array.from({ length: 12 }, async (_, client) => {
      for (let round = 0; round < 10; round++) {
        const firstName = `c${client}-r${round}`
        const answer = await callOver(url, 'user.update', { id, firstName })
        const outcome = 'result' in answer ? 'ok' : 'error' in answer ? String(answer.error.code) : 'hung'
        outcomes[outcome] = (outcomes[outcome] ?? 0) + 1
        if (outcome === 'ok') written.add(firstName)
      }
    }))
    const retries = await counter(metricsUrl, 'rpc_transaction_retries_total') - retriesBefore
    console.info(`one hot row at Serializable: outcomes ${JSON.stringify(outcomes)}, ${retries} retries`)
    expect(Object.keys(outcomes).every((outcome) => outcome === 'ok' || outcome === '-32010'), JSON.stringify(outcomes)).toBe(true)
    expect(retries).toBeGreaterThan(0)
    expect(retries).toBeLessThanOrEqual(120)
    expect(outcomes['-32010'] ?? 0).toBeLessThanOrEqual(retries)
    const final = await callOver(url, 'user.get', { id }) as { result: User }
    expect(written.has(final.result.firstName ?? '')).toBe(true)
  }, 120_000)
})

describe('failing statements beside reads on one small pool (prisma/orm#30374)', () => {
  it.each([['named', 'true'], ['unnamed', 'false']])('when duplicate-login creates fail inside transactions between reads, with %s statements, then every read answers the user it asked for', async (_kind, prepared) => {
    const { url } = await serve({ DATABASE_POOL_MAX: '2', DATABASE_PREPARED_STATEMENTS: prepared })
    const users: User[] = []
    for (let index = 0; index < 10; index++) {
      const made = await callOver(url, 'user.create', { login: uniqueLogin('read'), firstName: `first-${index}`, lastName: `last-${index}` }) as { result: User }
      users.push(made.result)
    }
    const mismatches: string[] = []
    let failures = 0
    let reads = 0
    await Promise.all(Array.from({ length: 10 }, async () => {
      for (let made = 0; made < 30; made++) {
        const user = pick(users)
        const roll = Math.random()
        if (roll < 0.35) {
          const answer = await callOver(url, 'user.create', { login: user.login, firstName: 'duplicate' })
          if ('error' in answer && answer.error.code === -32009) failures++
          else mismatches.push(`duplicate create of ${user.login}: ${JSON.stringify(answer)}`)
          continue
        }
        const answer = roll < 0.7 ? await callOver(url, 'user.get', { id: user.id }) : await callOver(url, 'user.getByLogin', { login: user.login })
        reads++
        if (!('result' in answer) || JSON.stringify(answer.result) !== JSON.stringify(user)) {
          mismatches.push(`asked for ${user.id} (${user.login}), got ${JSON.stringify(answer)}`)
        }
      }
    }))
    console.info(`prisma/orm#30374 check, ${_kind} statements: ${reads} reads beside ${failures} failed creates on a pool of 2, ${mismatches.length} mismatches`)
    expect(mismatches).toEqual([])
    expect(failures).toBeGreaterThan(50)
    expect(reads).toBeGreaterThan(100)
  }, 120_000)
})
