import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { chmod, mkdtemp, rm } from 'node:fs/promises'
import { connect, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { freePort } from '../src/db/embedded-postgres.js'
import { projectRoot } from '../src/paths.js'
import { uniqueLogin } from './helpers.js'

/**
 * The built service, as `npm start` and the container run it. It runs from a temporary
 * folder, so a developer's own `.env` in the project does not change what is tested.
 */
const entry = join(projectRoot, 'dist', 'server.js')

interface Running {
  child: ChildProcess
  port: number
  lines: Array<Record<string, unknown>>
  exited: Promise<number | null>
}

const children = new Set<ChildProcess>()
afterAll(() => { for (const child of children) child.kill('SIGKILL') })

beforeAll(() => {
  if (!existsSync(entry)) throw new Error('dist/server.js is missing: run `npm run build` (npm test does)')
})

async function startServer (env: Record<string, string>): Promise<Running> {
  const port = await freePort()
  const child = spawn(process.execPath, [entry], {
    cwd: tmpdir(),
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', HOST: '127.0.0.1', PORT: String(port), LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  children.add(child)
  const lines: Array<Record<string, unknown>> = []
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => { children.delete(child); resolve(code) }))
  let buffered = ''
  let stderr = ''
  child.stderr?.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  await new Promise<void>((resolve, reject) => {
    child.stdout?.on('data', (chunk: Buffer) => {
      buffered += chunk.toString()
      const complete = buffered.split('\n')
      buffered = complete.pop() ?? ''
      for (const line of complete) {
        try {
          const entry = JSON.parse(line) as Record<string, unknown>
          lines.push(entry)
          if (entry.msg === 'user-rpc ready') resolve()
        } catch { /* not a log line */ }
      }
    })
    exited.then((code) => reject(new Error(`server exited with ${code} before it was ready: ${stderr}`)))
  })
  return { child, port, lines, exited }
}

async function rpc (port: number, method: string, params: unknown) {
  const response = await fetch(`http://127.0.0.1:${port}/rpc`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', method, params, id: 1 }),
  })
  return { status: response.status, body: await response.json() as { result?: Record<string, unknown>, error?: { code: number } } }
}

const listening = (port: number) => new Promise<boolean>((resolve) => {
  const socket = connect(port, '127.0.0.1')
  socket.once('connect', () => { socket.destroy(); resolve(true) })
  socket.once('error', () => resolve(false))
})

/**
 * Creates a user through the service and holds its row lock from a separate connection, so
 * a call that writes that row waits inside its transaction (in flight) until released.
 */
async function lockNewUser (port: number) {
  const created = await rpc(port, 'user.create', { login: uniqueLogin('locked') })
  const id = created.body.result?.id as number
  const locker = new pg.Client({ connectionString: inject('databaseUrl') })
  await locker.connect()
  await locker.query('BEGIN')
  await locker.query('SELECT id FROM users WHERE id = $1 FOR UPDATE', [id])
  let released = false
  return {
    id,
    /** Resolves once another transaction is waiting for the lock. */
    async waiter () {
      for (let waited = 0; waited < 100; waited++) {
        const { rows } = await locker.query("SELECT count(*)::int AS n FROM pg_locks WHERE NOT granted AND locktype = 'transactionid'")
        if (rows[0].n > 0) return
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
      throw new Error('no call waited for the lock')
    },
    /** Ends the locking transaction; later calls do nothing. */
    async release (how: 'COMMIT' | 'ROLLBACK' = 'COMMIT') {
      if (released) return
      released = true
      await locker.query(how)
      await locker.end()
    },
  }
}

describe('the service process', () => {
  it('when a setting is invalid, then it exits 1 with one line naming the variable', async () => {
    for (const [name, value] of [['PORT', 'eighty'], ['TX_ISOLATION_LEVEL', 'Sometimes'], ['API_KEYS', 'ops:admin:0123456789abcdef0']]) {
      const child = spawn(process.execPath, [entry], { cwd: tmpdir(), env: { PATH: process.env.PATH ?? '', [name as string]: value as string } })
      let stderr = ''
      child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
      const code = await new Promise((resolve) => child.on('exit', resolve))
      expect(code).toBe(1)
      expect(stderr.trim().split('\n')).toHaveLength(1)
      expect(stderr).toContain(name)
      expect(stderr).not.toMatch(/\bat .+:\d+:\d+/)
    }
  })

  it('when NODE_ENV=production has no API keys, then it refuses to start unless told otherwise', async () => {
    const child = spawn(process.execPath, [entry], { cwd: tmpdir(), env: { PATH: process.env.PATH ?? '', NODE_ENV: 'production', DATABASE_URL: inject('databaseUrl') } })
    let stderr = ''
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
    expect(await new Promise((resolve) => child.on('exit', resolve))).toBe(1)
    expect(stderr).toContain('API_KEYS')
  })

  it('when the port is taken, then it logs one fatal line and exits 1', async () => {
    const blocker = createServer()
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve))
    const { port } = blocker.address() as { port: number }
    try {
      const child = spawn(process.execPath, [entry], {
        cwd: tmpdir(),
        env: { PATH: process.env.PATH ?? '', DATABASE_URL: inject('databaseUrl'), HOST: '127.0.0.1', PORT: String(port) },
      })
      let stdout = ''
      child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString() })
      expect(await new Promise((resolve) => child.on('exit', resolve))).toBe(1)
      const fatal = stdout.split('\n').filter(Boolean).map((line) => JSON.parse(line) as { level: number, msg: string, err?: { code?: string } })
        .filter((line) => line.level === 60)
      expect(fatal).toHaveLength(1)
      expect(fatal[0]).toMatchObject({ msg: 'user-rpc could not start', err: { code: 'EADDRINUSE' } })
    } finally {
      blocker.close()
    }
  })

  it('when SIGTERM arrives with a call in flight, then the call completes, new connections are refused, and it exits 0', async () => {
    const server = await startServer({ DATABASE_URL: inject('databaseUrl') })
    const row = await lockNewUser(server.port)
    try {
      const inFlight = rpc(server.port, 'user.update', { id: row.id, firstName: 'Drained' })
      await row.waiter()

      server.child.kill('SIGTERM')
      for (let waited = 0; waited < 40 && await listening(server.port); waited++) await new Promise((resolve) => setTimeout(resolve, 25))
      expect(await listening(server.port)).toBe(false)
      await row.release()

      const answer = await inFlight
      expect(answer.status).toBe(200)
      expect(answer.body.result?.firstName).toBe('Drained')
      expect(await server.exited).toBe(0)
      expect(server.lines.some((line) => line.msg === 'shut down cleanly')).toBe(true)
      // Started without API keys, it said so loudly.
      expect(server.lines.some((line) => line.level === 40 && String(line.msg).startsWith('NO API KEYS'))).toBe(true)
    } finally {
      await row.release()
    }
  })

  it.each([
    ['a second signal arrives', { SHUTDOWN_GRACE_MS: '60000' }, true],
    ['the grace period ends', { SHUTDOWN_GRACE_MS: '300' }, false],
  ])('when a call never finishes and %s, then the exit is forced with code 1', async (_case, env, secondSignal) => {
    const server = await startServer({ DATABASE_URL: inject('databaseUrl'), TX_TIMEOUT_MS: '60000', ...env })
    const row = await lockNewUser(server.port)
    try {
      rpc(server.port, 'user.delete', { id: row.id }).catch(() => {})
      await row.waiter()
      const signalled = performance.now()
      server.child.kill('SIGTERM')
      if (secondSignal) {
        await new Promise((resolve) => setTimeout(resolve, 200))
        server.child.kill('SIGTERM')
      }
      expect(await server.exited).toBe(1)
      expect(performance.now() - signalled).toBeLessThan(10_000)
    } finally {
      await row.release('ROLLBACK')
    }
  })

  it('when run on the embedded database, then it serves, stops PostgreSQL on SIGTERM, and restarts on the same data', async () => {
    const folder = await mkdtemp(join(tmpdir(), 'user-rpc-embedded-'))
    await chmod(folder, 0o755)
    const env = { EMBEDDED_DATABASE_DIR: join(folder, 'postgres') }
    try {
      const first = await startServer(env)
      const login = uniqueLogin('embedded')
      const created = await rpc(first.port, 'user.create', { login })
      expect(created.body.result?.login).toBe(login)
      const databasePort = first.lines.find((line) => line.msg === 'embedded PostgreSQL started and migrated')?.port as number
      expect(databasePort).toBeGreaterThan(0)

      first.child.kill('SIGTERM')
      expect(await first.exited).toBe(0)
      expect(await listening(databasePort)).toBe(false)

      const second = await startServer(env)
      const fetched = await rpc(second.port, 'user.getByLogin', { login })
      expect(fetched.body.result).toEqual(created.body.result)
      second.child.kill('SIGINT')
      expect(await second.exited).toBe(0)
    } finally {
      await rm(folder, { recursive: true, force: true })
    }
  }, 90_000)
})
