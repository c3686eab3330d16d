import { afterAll, describe, expect, inject, it } from 'vitest'
import { buildApp } from '../src/app.js'
import { loadConfig } from '../src/config.js'
import { uniqueLogin } from './helpers.js'

/**
 * Many clients over real sockets, fighting over a handful of logins: uniqueness holds,
 * every call ends in a result or a documented error, none hangs, and retries stay within
 * what TX_MAX_RETRIES allows. The service runs in this process on the suite's database;
 * every login here is unique to this file, and only ids it created are written.
 */
type Service = Awaited<ReturnType<typeof buildApp>>
const services: Service[] = []
afterAll(async () => { for (const service of services) await service.close() })

async function listen (env: Record<string, string>) {
  const databaseUrl = inject('databaseUrl')
  const app = await buildApp({ config: loadConfig({ NODE_ENV: 'test', DATABASE_URL: databaseUrl, ...env }), databaseUrl })
  services.push(app)
  const address = await app.listen({ host: '127.0.0.1', port: 0 })
  return { url: `${address}/rpc`, metricsUrl: `${address}/metrics` }
}

interface User { id: number, login: string, firstName: string | null, lastName: string | null, createdAt: string, updatedAt: string }
type Answer = { result: User } | { error: { code: number } } | { hung: true }

/** One call; a call that takes longer than the limit is an outcome of its own, not a wait. */
async function call (url: string, method: string, params: unknown): Promise<Answer> {
  try {
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', method, params, id: 1 }),
      signal: AbortSignal.timeout(30_000),
    })
    return await response.json() as Answer
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
    const { url, metricsUrl } = await listen({ TX_ISOLATION_LEVEL: isolation, DATABASE_POOL_MAX: '6', TX_MAX_RETRIES: String(MAX_RETRIES) })
    const logins = Array.from({ length: 3 }, () => uniqueLogin('fight'))
    const ids: number[] = []
    const codes: Record<string, number> = {}
    const wrong: string[] = []
    const count = (key: string) => { codes[key] = (codes[key] ?? 0) + 1 }

    /** Every answer: its code counted, and a result checked against what was asked. */
    const judge = (what: string, answer: Answer, allowed: number[], expected: Partial<User>) => {
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
      async () => { const login = pick(logins); judge('create', await call(url, 'user.create', { login }), [-32009, ...RETRYABLE], { login }) },
      async () => {
        if (ids.length === 0) return
        const id = pick(ids)
        const login = pick(logins)
        judge('rename', await call(url, 'user.update', { id, login }), [-32004, -32009, ...RETRYABLE], { id, login })
      },
      async () => {
        if (ids.length === 0) return
        const id = pick(ids)
        const answer = await call(url, 'user.delete', { id })
        judge('delete', answer, [-32004, ...RETRYABLE], { id })
        // Gone for good: later calls aim at the rows that are left, where the contention is.
        if ('result' in answer || ('error' in answer && answer.error.code === -32004)) ids.splice(ids.indexOf(id), 1)
      },
      async () => {
        if (ids.length === 0) return
        const id = pick(ids)
        judge('touch', await call(url, 'user.update', { id, firstName: `touched-${Math.random()}` }), [-32004, ...RETRYABLE], { id })
      },
      async () => { if (ids.length > 0) { const id = pick(ids); judge('get', await call(url, 'user.get', { id }), [-32004, ...RETRYABLE], { id }) } },
      async () => { const login = pick(logins); judge('getByLogin', await call(url, 'user.getByLogin', { login }), [-32004, ...RETRYABLE], { login }) },
    ]

    const retriesBefore = await counter(metricsUrl, 'rpc_transaction_retries_total')
    let uniquenessChecks = 0
    let done = false
    const watcher = (async () => {
      // Meanwhile, the table itself: never two rows with one login.
      for (;;) {
        if (done) return
        const page = await call(url, 'user.list', { limit: 100, loginPrefix: 'fight-' }) as unknown as { result: { items: User[] } }
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
    const { url, metricsUrl } = await listen({ TX_ISOLATION_LEVEL: 'Serializable', TX_MAX_RETRIES: '1', DATABASE_POOL_MAX: '12' })
    const made = await call(url, 'user.create', { login: uniqueLogin('hot') }) as { result: User }
    const { id } = made.result
    const retriesBefore = await counter(metricsUrl, 'rpc_transaction_retries_total')
    const written = new Set<string>()
    const outcomes: Record<string, number> = {}
    await Promise.all(Array.from({ length: 12 }, async (_, client) => {
      for (let round = 0; round < 10; round++) {
        const firstName = `c${client}-r${round}`
        const answer = await call(url, 'user.update', { id, firstName })
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
    const final = await call(url, 'user.get', { id }) as { result: User }
    expect(written.has(final.result.firstName ?? '')).toBe(true)
  }, 120_000)
})

describe('failing statements beside reads on one small pool (prisma/orm#30374)', () => {
  it.each([['named', 'true'], ['unnamed', 'false']])('when duplicate-login creates fail inside transactions between reads, with %s statements, then every read answers the user it asked for', async (_kind, prepared) => {
    const { url } = await listen({ DATABASE_POOL_MAX: '2', DATABASE_PREPARED_STATEMENTS: prepared })
    const users: User[] = []
    for (let index = 0; index < 10; index++) {
      const made = await call(url, 'user.create', { login: uniqueLogin('read'), firstName: `first-${index}`, lastName: `last-${index}` }) as { result: User }
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
          const answer = await call(url, 'user.create', { login: user.login, firstName: 'duplicate' })
          if ('error' in answer && answer.error.code === -32009) failures++
          else mismatches.push(`duplicate create of ${user.login}: ${JSON.stringify(answer)}`)
          continue
        }
        const answer = roll < 0.7 ? await call(url, 'user.get', { id: user.id }) : await call(url, 'user.getByLogin', { login: user.login })
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
