import { once } from 'node:events'
import { connect } from 'node:net'
import { afterAll, describe, expect, it } from 'vitest'
import { buildTestApp, fetchRpc, httpPost, keepAliveAgent, listen, loginsWith, request, startWriteLoad, tally } from './support/clients.js'
import {
  countUsers,
  insertUser,
  lockRow,
  readUser,
  storedLogins,
  testDatabaseUrl,
  uniqueName,
  waitFor,
  waitForBlockedCalls,
  withApplicationName,
  type Session,
} from './support/database.js'
import { killLeftoverServices, startService } from './support/processes.js'

/**
 * docs/operations.md, Graceful shutdown. Closing the app (what the process does on a signal)
 * with calls in flight, then the built process itself on SIGTERM and SIGINT, also under a
 * stream of writes (docs/reliability.md: nothing half-done).
 */

const sessions: Session[] = []
afterAll(async () => {
  killLeftoverServices()
  for (const session of sessions) await session.end('ROLLBACK')
})
const lock = async (id: number) => {
  const session = await lockRow(id)
  sessions.push(session)
  return session
}

const accepts = (port: number) => new Promise<boolean>((resolve) => {
  const socket = connect(port, '127.0.0.1')
  socket.once('connect', () => { socket.destroy(); resolve(true) })
  socket.once('error', () => resolve(false))
})

describe('closing the app with calls in flight', () => {
  it('when the app closes during a call on a keep-alive connection, then the call finishes and its answer carries Connection: close', async () => {
    const app = await buildTestApp()
    const base = await listen(app)
    const { id } = await insertUser()
    const agent = keepAliveAgent()
    const before = await httpPost(`${base}/rpc`, request('user.get', { id }, 1), { agent }).response
    expect(before.headers.connection).toBe('keep-alive')

    const held = await lock(id)
    const inFlight = httpPost(`${base}/rpc`, request('user.update', { id, firstName: 'drained' }, 2), { agent })
    await waitForBlockedCalls(app.applicationName, { by: held.pid })
    const closed = app.close()
    await waitFor('the app to stop listening', () => app.server.listening ? undefined : true)
    await held.end('COMMIT')

    const answer = await inFlight.response
    expect(answer.status).toBe(200)
    expect(answer.headers.connection).toBe('close')
    expect(answer.body.result).toMatchObject({ id, firstName: 'drained' })
    await closed
    agent.destroy()
  })

  it('when a client leaves mid-batch and the app closes, then every member still runs and commits before close resolves', async () => {
    const app = await buildTestApp({ DATABASE_POOL_MAX: '4', RPC_BATCH_CONCURRENCY: '1' })
    const base = await listen(app)
    const [a, b, c] = [await insertUser(), await insertUser(), await insertUser()]
    // The first member waits on this lock; the other two queue behind it (concurrency 1).
    const held = await lock(a.id)
    const exchange = httpPost(`${base}/rpc`, [a, b, c].map((user, i) => request('user.update', { id: user.id, firstName: 'after-leaving' }, i)))
    await waitForBlockedCalls(app.applicationName, { by: held.pid })
    exchange.abort()

    const serverClosed = once(app.server, 'close')
    const closed = app.close().then(async () => await Promise.all([a, b, c].map((user) => readUser(user.id))))
    // No connection is left, so only the calls can hold the close back now.
    await serverClosed
    await held.end('COMMIT')

    expect((await closed).map((row) => row?.first_name)).toEqual(['after-leaving', 'after-leaving', 'after-leaving'])
  })
})

// Starting processes takes seconds, and many times that on a loaded machine.
describe.concurrent('the process on a signal', { timeout: 120_000 }, () => {
  it('when SIGTERM arrives with a call in flight, then the call completes, new connections are refused, and it exits 0', async () => {
    const applicationName = uniqueName('user-rpc-process')
    const service = await startService({ DATABASE_URL: withApplicationName(testDatabaseUrl(), applicationName) })
    const { id } = await insertUser()
    const held = await lock(id)
    const inFlight = fetchRpc(`${service.url}/rpc`, request('user.update', { id, firstName: 'Drained' }, 1))
    await waitForBlockedCalls(applicationName, { by: held.pid })

    service.signal('SIGTERM')
    await service.waitForLine('that it is draining', (line) => line.msg === 'shutting down: draining calls in flight')
    await waitFor('the listening socket to close', async () => await accepts(service.port) ? undefined : true)
    await held.end('COMMIT')

    const answer = await inFlight
    expect(answer.status).toBe(200)
    expect(answer.body.result).toMatchObject({ id, firstName: 'Drained' })
    expect(await service.exited).toBe(0)
    expect(service.lines.some((line) => line.msg === 'shut down cleanly')).toBe(true)
  })

  it('when a request is half sent as SIGTERM arrives and completed during the drain, then it is served as JSON-RPC with Connection: close, not refused with a bare 503', async () => {
    const service = await startService({ DATABASE_URL: testDatabaseUrl() })
    const socket = connect(service.port, '127.0.0.1')
    await once(socket, 'connect')
    let received = ''
    socket.on('data', (chunk: Buffer) => { received += chunk.toString() })
    const closed = once(socket, 'close')
    // The request line is in: the socket is busy, so the close does not reap it as idle.
    socket.write('POST /rpc HTTP/1.1\r\nHost: 127.0.0.1\r\n')
    service.signal('SIGTERM')
    await service.waitForLine('that it is draining', (line) => line.msg === 'shutting down: draining calls in flight')
    await waitFor('the listening socket to close', async () => await accepts(service.port) ? undefined : true)

    const login = uniqueName('late').slice(0, 30)
    const body = JSON.stringify(request('user.create', { login }, 7))
    socket.write(`Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`)
    await closed
    const [head = '', payload = ''] = received.split('\r\n\r\n')
    expect(head).toMatch(/^HTTP\/1\.1 200 /)
    expect(head.toLowerCase()).toContain('connection: close')
    expect(JSON.parse(payload)).toMatchObject({ jsonrpc: '2.0', id: 7, result: { login } })
    expect(await service.exited).toBe(0)
    expect(await countUsers(login)).toBe(1)
  })

  it('when SIGTERM arrives under single and batched creates, then it exits 0, every acknowledged create is there, and nothing else: no row for a create that failed or got no answer', async () => {
    const prefix = uniqueName('sigterm')
    const service = await startService({ DATABASE_URL: testDatabaseUrl() })
    const load = startWriteLoad({ baseUrl: service.url, prefix, clients: 4, batchClients: 1 })
    try {
      await load.acknowledged(100)
      service.signal('SIGTERM')
      expect(await service.exited).toBe(0)
      await load.stop()
      expect(service.lines.some((line) => line.msg === 'shut down cleanly')).toBe(true)

      const outcomes = tally(load.records)
      expect(Object.keys(outcomes).every((outcome) => ['ok', 'refused', 'lost'].includes(outcome)), JSON.stringify(outcomes)).toBe(true)
      const stored = await storedLogins(testDatabaseUrl(), prefix)
      const acknowledged = loginsWith(load.records, 'ok')
      expect([...stored].sort()).toEqual([...acknowledged].sort())
    } finally {
      await load.stop()
    }
  })

  it.each([
    ['a second signal arrives', { SHUTDOWN_GRACE_MS: '60000' }, true],
    ['the grace period ends', { SHUTDOWN_GRACE_MS: '300' }, false],
  ])('when a call never finishes and %s, then the exit is forced with code 1', async (_case, env, secondSignal) => {
    const applicationName = uniqueName('user-rpc-process')
    const service = await startService({ DATABASE_URL: withApplicationName(testDatabaseUrl(), applicationName), TX_TIMEOUT_MS: '60000', ...env })
    const { id } = await insertUser()
    const held = await lock(id)
    fetchRpc(`${service.url}/rpc`, request('user.delete', { id }, 1)).catch(() => {})
    await waitForBlockedCalls(applicationName, { by: held.pid })

    const signalled = performance.now()
    service.signal('SIGTERM')
    if (secondSignal) {
      await service.waitForLine('that it is draining', (line) => line.msg === 'shutting down: draining calls in flight')
      service.signal('SIGTERM')
    }
    expect(await service.exited).toBe(1)
    // Far below the 60 s the call could otherwise hold it: the signal or the grace period ended it.
    expect(performance.now() - signalled).toBeLessThan(20_000)
  })
})
