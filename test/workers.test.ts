import { readFile } from 'node:fs/promises'
import { connect } from 'node:net'
import { join } from 'node:path'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { callOnNewConnection, getOnNewConnection, metricValue, type LogLine } from './support/clients.js'
import { testDatabaseUrl, uniqueLogin } from './support/database.js'
import { killLeftoverServices, startService, type ServiceProcess } from './support/processes.js'
import { scratchFolder } from './support/tools.js'

/**
 * WORKERS > 1 (src/cluster.ts), through the built service as an operator runs it: one
 * primary process forks the workers, which share the port.
 */

afterAll(() => killLeftoverServices())

const listening = (port: number) => new Promise<boolean>((resolve) => {
  const socket = connect(port, '127.0.0.1')
  socket.once('connect', () => { socket.destroy(); resolve(true) })
  socket.once('error', () => resolve(false))
})

const workerListening = (line: LogLine) => line.msg === 'worker listening'

describe('two workers on the embedded database', () => {
  let folder: Awaited<ReturnType<typeof scratchFolder>>
  beforeAll(async () => { folder = await scratchFolder('workers') })
  afterAll(async () => { await folder.remove() })

  it('when SIGTERM comes with a call in flight on each worker, then both finish, and the primary stops the database it started once, and exits 0', async () => {
    const dir = join(folder.path, 'postgres')
    const service = await startService({ WORKERS: '2', EMBEDDED_DATABASE_DIR: dir, SHUTDOWN_GRACE_MS: '30000' })
    const started = service.lines.filter((line) => line.msg === 'embedded PostgreSQL started and migrated')
    expect(started).toHaveLength(1)
    expect(started[0]?.worker).toBeUndefined()
    expect(service.lines.filter(workerListening).map((line) => line.worker).sort()).toEqual([1, 2])

    const password = (await readFile(join(dir, 'user-rpc.password'), 'utf8')).trim()
    const databasePort = Number(started[0]?.port)
    const locker = new pg.Client({ connectionString: `postgresql://postgres:${encodeURIComponent(password)}@127.0.0.1:${databasePort}/user_rpc` })
    // The database stops under this client at the end; that is the point.
    locker.on('error', () => {})
    await locker.connect()
    const created = await callOnNewConnection(service.url, 'user.create', { login: uniqueLogin('drain') })
    const id = (created.body.result as { id: number }).id

    await locker.query('BEGIN')
    await locker.query('SELECT id FROM users WHERE id = $1 FOR UPDATE', [id])
    // New connections go to the workers in turn (node:cluster's round robin), once the worker
    // that took the last one has accepted it: sent one at a time, each waiting before the next,
    // four calls put two on each. Sent all at once, a worker slow to accept could get none.
    // Each waiting call holds one lock not granted (pg_stat_activity would not do: inside a
    // transaction it is a snapshot taken once).
    const calls: Array<ReturnType<typeof callOnNewConnection>> = []
    for (let index = 0; index < 4; index++) {
      calls.push(callOnNewConnection(service.url, 'user.update', { id, firstName: `Call${index}` }, { 'x-request-id': `drain-${index}` }))
      for (let waiting = 0; waiting < index + 1; await new Promise((resolve) => setTimeout(resolve, 20))) {
        const { rows } = await locker.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_locks WHERE NOT granted')
        waiting = rows[0]?.n ?? 0
      }
    }

    service.signal('SIGTERM')
    await service.waitForLine('worker 1 draining', (line) => line.msg === 'shutting down: draining calls in flight' && line.worker === 1)
    await service.waitForLine('worker 2 draining', (line) => line.msg === 'shutting down: draining calls in flight' && line.worker === 2)
    // Each worker's close reaches the primary, which stops accepting once none is left.
    for (let attempt = 0; attempt < 200 && await listening(service.port); attempt++) await new Promise((resolve) => setTimeout(resolve, 50))
    expect(await listening(service.port)).toBe(false)
    await locker.query('COMMIT')

    const answers = await Promise.all(calls)
    expect(answers.map((answer) => answer.body.error)).toEqual([undefined, undefined, undefined, undefined])
    const servedBy = service.lines.filter((line) => String(line.reqId).startsWith('drain-')).map((line) => line.worker)
    expect(new Set(servedBy)).toEqual(new Set([1, 2]))
    expect(await service.exited).toBe(0)
    expect(service.lines.at(-1)).toMatchObject({ msg: 'shut down cleanly' })
    expect(service.lines.at(-1)?.worker).toBeUndefined()
    expect(await listening(databasePort)).toBe(false)
    await locker.end().catch(() => {})
  }, 120_000)
})

describe('two workers on an external database', () => {
  let service: ServiceProcess
  beforeAll(async () => {
    service = await startService({ WORKERS: '2', DATABASE_URL: testDatabaseUrl() })
  })
  afterAll(async () => { await service?.stop() })

  it('when /metrics and /readyz are asked of either worker, then metrics count the calls of both, and readiness holds', async () => {
    const login = uniqueLogin('metrics')
    const before = metricValue((await getOnNewConnection(service.url, '/metrics')).text, 'rpc_calls_total', { method: 'user.getByLogin' })
    const answers = []
    for (let call = 0; call < 6; call++) answers.push(await callOnNewConnection(service.url, 'user.getByLogin', { login }, { 'x-request-id': `metrics-${call}` }))
    expect(answers.every((answer) => answer.body.error?.code === -32004)).toBe(true)
    const servedBy = service.lines.filter((line) => String(line.reqId).startsWith('metrics-')).map((line) => line.worker)
    expect(new Set(servedBy)).toEqual(new Set([1, 2]))

    // Fresh connections alternate between the workers, so these scrapes ask both.
    for (let scrape = 0; scrape < 4; scrape++) {
      expect(metricValue((await getOnNewConnection(service.url, '/metrics')).text, 'rpc_calls_total', { method: 'user.getByLogin' }) - before).toBe(6)
      expect((await getOnNewConnection(service.url, '/readyz')).status).toBe(200)
    }
  })

  it('when a worker is killed with SIGKILL, then the primary starts a replacement, which serves', async () => {
    const victim = service.lines.find((line) => workerListening(line) && line.worker === 1)
    expect(victim?.pid).toEqual(expect.any(Number))
    process.kill(Number(victim?.pid), 'SIGKILL')

    await service.waitForLine('the replacement announced', (line) => line.msg === 'worker died: starting a replacement' && line.worker === 1)
    const replacement = await service.waitForLine('the replacement listening', (line) => workerListening(line) && line.worker === 3)
    expect(replacement.pid).not.toBe(victim?.pid)

    const login = uniqueLogin('replaced')
    expect((await callOnNewConnection(service.url, 'user.create', { login })).body.result).toMatchObject({ login })
    // Calls on fresh connections go to the workers in turn; the replacement is one of them.
    const served = async () => service.lines.some((line) => line.msg === 'rpc call' && line.worker === 3)
    for (let call = 0; call < 20 && !await served(); call++) {
      expect((await callOnNewConnection(service.url, 'user.getByLogin', { login })).body.result).toMatchObject({ login })
    }
    expect(await served()).toBe(true)
    expect(service.lines.filter(workerListening).map((line) => line.worker).sort()).toEqual([1, 2, 3])
  })
})
