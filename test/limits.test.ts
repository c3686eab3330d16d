import { connect } from 'node:net'
import { beforeAll, describe, expect, it } from 'vitest'
import { call, endedAfterAll, exchange, listen, post, postRequest, request, type TestApp } from './support/clients.js'
import { countUsers, insertUser, lockRow, readUser, uniqueLogin, waitForBlockedCalls } from './support/database.js'

/** docs/operations.md, Limits: from the outside in, one describe per row of its table. */

const WRITER = 'writer-secret-0123456789abcdef'
const READER = 'reader-secret-0123456789abcdef'

const { service, kept } = endedAfterAll()
const lock = async (id: number) => kept(await lockRow(id))

describe('RPC_BODY_LIMIT_BYTES', () => {
  it('when the body is over the limit, then 413 with a -32600 body that gives the reason, and nothing is written', async () => {
    const app = await service({ RPC_BODY_LIMIT_BYTES: '2048' })
    const login = uniqueLogin('big')
    const response = await post(app, request('user.create', { login, firstName: 'x'.repeat(4000) }, 1))
    expect(response.status).toBe(413)
    expect(response.body).toEqual({ jsonrpc: '2.0', id: null, error: { code: -32600, message: 'Request body too large', data: { reason: 'the body is over 2048 bytes' } } })
    expect(await countUsers(login)).toBe(0)
  })
})

describe('RATE_LIMIT_PER_IP and RATE_LIMIT_PER_KEY', () => {
  const send = (app: TestApp, body: unknown, key: string, remoteAddress = '10.9.8.7') => app.inject({
    method: 'POST',
    url: '/rpc',
    remoteAddress,
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    payload: JSON.stringify(body),
  })

  it('when the limits are left at their defaults, then one address and one key sending many calls are never throttled', async () => {
    const app = await service({ API_KEYS: `billing:write:${WRITER}` })
    const statuses = new Set<number>()
    // Far past what a limit of a few per window would allow; invalid params, so no database work.
    for (let i = 0; i < 300; i++) statuses.add((await send(app, request('user.get', { id: 0 }, i), WRITER)).statusCode)
    expect([...statuses]).toEqual([200])
  })

  it('when one key goes past its limit, then HTTP 429 with Retry-After and a -32029 body; another key is unaffected', async () => {
    const app = await service({ API_KEYS: `billing:write:${WRITER},reports:read:${READER}`, RATE_LIMIT_PER_KEY: '3', RATE_LIMIT_WINDOW_MS: '60000' })
    const list = request('user.list', { limit: 1 }, 1)
    for (let i = 0; i < 3; i++) expect((await send(app, list, READER)).statusCode).toBe(200)
    const refused = await send(app, list, READER)
    expect(refused.statusCode).toBe(429)
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0)
    expect(refused.json()).toEqual({ jsonrpc: '2.0', id: null, error: { code: -32029, message: 'Too many requests', data: { retryAfterSeconds: expect.any(Number) } } })
    expect((await send(app, list, WRITER)).statusCode).toBe(200)
  })

  it('when one address goes past its limit, then even unauthenticated attempts get 429 before the key check', async () => {
    const app = await service({ API_KEYS: `billing:write:${WRITER}`, RATE_LIMIT_PER_IP: '2' })
    const list = request('user.list', {}, 1)
    expect((await send(app, list, 'guess-1-0123456789abcdef')).statusCode).toBe(401)
    expect((await send(app, list, 'guess-2-0123456789abcdef')).statusCode).toBe(401)
    const refused = await send(app, list, WRITER)
    expect(refused.statusCode).toBe(429)
    expect(refused.json().error.code).toBe(-32029)
    expect((await send(app, list, WRITER, '10.9.8.8')).statusCode).toBe(200)
  })

  it('when a batch is sent, then it counts as one request, however many calls it holds', async () => {
    const app = await service({ API_KEYS: `billing:write:${WRITER}`, RATE_LIMIT_PER_KEY: '2', RATE_LIMIT_PER_IP: '2' })
    const batch = Array.from({ length: 5 }, (_, i) => request('user.get', { id: 0 }, i))
    for (let i = 0; i < 2; i++) {
      const answered = await send(app, batch, WRITER)
      expect(answered.statusCode).toBe(200)
      expect(answered.json()).toHaveLength(5)
    }
    expect((await send(app, request('user.get', { id: 0 }, 1), WRITER)).statusCode).toBe(429)
  })
})

describe('RPC_BATCH_MAX', () => {
  it('when the batch is over RPC_BATCH_MAX, then one -32600 says so and nothing runs', async () => {
    const app = await service({ RPC_BATCH_MAX: '3' })
    const logins = [uniqueLogin(), uniqueLogin(), uniqueLogin(), uniqueLogin()]
    const { body } = await post(app, logins.map((login, i) => request('user.create', { login }, i)))
    expect(body).toEqual({ jsonrpc: '2.0', id: null, error: { code: -32600, message: 'Invalid Request', data: { reason: 'a batch of 4 requests is over the limit of 3' } } })
    for (const login of logins) expect(await countUsers(login)).toBe(0)
  })
})

describe('RPC_MAX_IN_FLIGHT', () => {
  it('when RPC_MAX_IN_FLIGHT calls are running, then the next one gets -32011 at once; the running one still finishes', async () => {
    const app = await service({ RPC_MAX_IN_FLIGHT: '1' })
    const { id } = await insertUser()
    const held = await lock(id)
    const running = call(app, 'user.update', { id, firstName: 'first' })
    await waitForBlockedCalls(app.applicationName, { by: held.pid })

    expect((await call(app, 'user.get', { id }, 2)).body)
      .toEqual({ jsonrpc: '2.0', id: 2, error: { code: -32011, message: 'Server overloaded', data: { retryable: true } } })
    await held.end('COMMIT')
    expect((await running).body.result).toMatchObject({ id, firstName: 'first' })
  })
})

describe('DATABASE_POOL_MAX', () => {
  it('when every pool connection is held, then a new call gets -32011 after DATABASE_CONNECT_TIMEOUT_MS instead of waiting', async () => {
    // TX_MAX_WAIT_MS far above the connect timeout, so only the pool's own bound can end the wait.
    const app = await service({ DATABASE_POOL_MAX: '1', DATABASE_CONNECT_TIMEOUT_MS: '300', TX_MAX_WAIT_MS: '60000' })
    const { id } = await insertUser()
    const held = await lock(id)
    const running = call(app, 'user.update', { id, firstName: 'first' })
    await waitForBlockedCalls(app.applicationName, { by: held.pid })

    const started = performance.now()
    const refused = await call(app, 'user.get', { id }, 2)
    expect(refused.body).toEqual({ jsonrpc: '2.0', id: 2, error: { code: -32011, message: 'Database unavailable', data: { retryable: true } } })
    expect(performance.now() - started).toBeGreaterThanOrEqual(250)
    expect(performance.now() - started).toBeLessThan(20_000)
    await held.end('COMMIT')
    expect((await running).body.result).toMatchObject({ id, firstName: 'first' })
  })
})

describe('RPC_BATCH_CONCURRENCY', () => {
  it('when a batch has more members than RPC_BATCH_CONCURRENCY, then no more than that many hold a connection at once, and all finish', async () => {
    const app = await service({ DATABASE_POOL_MAX: '10', RPC_BATCH_CONCURRENCY: '2' })
    const { id } = await insertUser()
    // The clients checked out from here on, by identity: a connection already out when the
    // listeners start (the idempotency keys' sweep at start, say) is not counted when it returns.
    const inUse = new Set<unknown>()
    let peak = 0
    app.dbPool.on('acquire', (client) => { inUse.add(client); peak = Math.max(peak, inUse.size) })
    app.dbPool.on('release', (_error, client) => { inUse.delete(client) })

    // Every member writes one locked row, so none can finish before the lock goes: the
    // members that started are all holding a connection at the same time.
    const held = await lock(id)
    const members = Array.from({ length: 6 }, (_, i) => request('user.update', { id, lastName: `m${i}` }, i))
    const batch = post(app, members)
    await waitForBlockedCalls(app.applicationName, { count: 2 })
    await held.end('COMMIT')

    const { body } = await batch
    expect(body.map((answer: { error?: unknown }) => answer.error)).toEqual(Array(6).fill(undefined))
    expect(peak).toBe(2)
    expect((await readUser(id))?.last_name).toMatch(/^m[0-5]$/)
  })
})

describe('CONNECTION_TIMEOUT_MS', () => {
  it('when a client opens a socket and sends nothing, then the server closes it after CONNECTION_TIMEOUT_MS', async () => {
    const app = await service({ CONNECTION_TIMEOUT_MS: '300' })
    const { port } = new URL(await listen(app))
    const socket = connect(Number(port), '127.0.0.1')
    await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject) })
    const opened = performance.now()
    await new Promise<void>((resolve, reject) => {
      socket.once('close', () => resolve())
      socket.once('error', reject)
    })
    expect(performance.now() - opened).toBeGreaterThanOrEqual(250)
  })
})

describe('REQUEST_TIMEOUT_MS', () => {
  let slowPort: number
  beforeAll(async () => { slowPort = Number(new URL(await listen(await service({ REQUEST_TIMEOUT_MS: '1000' }))).port) })

  /** Sends `head`, then `trickle` one byte every 200 ms; resolves with what came back and when the socket closed. */
  function trickle (head: string, trickle: string) {
    return new Promise<{ text: string, closedAfterMs: number }>((resolve, reject) => {
      const socket = connect(slowPort, '127.0.0.1')
      const started = performance.now()
      let text = ''
      let sent = 0
      socket.write(head)
      const timer = setInterval(() => { if (sent < trickle.length) socket.write(trickle[sent++] ?? '') }, 200)
      const giveUp = setTimeout(() => { socket.destroy(); reject(new Error('the slow client was never cut off')) }, 15_000)
      socket.on('data', (chunk: Buffer) => { text += chunk.toString('utf8') })
      socket.on('error', () => {})
      socket.on('close', () => {
        clearInterval(timer)
        clearTimeout(giveUp)
        resolve({ text, closedAfterMs: performance.now() - started })
      })
    })
  }

  it.each([
    ['its body', 'POST /rpc HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: 200\r\n\r\n', ' '.repeat(200)],
    ['its headers', 'POST /rpc HTTP/1.1\r\n', 'x-slow: ' + 'a'.repeat(200)],
  ])('when a client sends %s a byte at a time, then it is cut off after REQUEST_TIMEOUT_MS with 408 and a JSON-RPC body, while others are served', async (_what, head, rest) => {
    const cut = trickle(head, rest)
    // Meanwhile, on another connection, a call is answered as usual.
    const other = await exchange(slowPort, postRequest(JSON.stringify(request('user.get', { id: 2147483647 }, 1))))
    expect(JSON.parse(other.body).error.code).toBe(-32004)
    const { text, closedAfterMs } = await cut
    expect(closedAfterMs).toBeGreaterThanOrEqual(900)
    expect(closedAfterMs).toBeLessThan(10_000)
    expect(text).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/)
    expect(JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4))).toEqual({ jsonrpc: '2.0', id: null, error: { code: -32600, message: 'Request Timeout', data: { reason: 'the request did not arrive whole within REQUEST_TIMEOUT_MS' } } })
  })
})
