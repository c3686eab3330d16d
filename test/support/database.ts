import { randomBytes } from 'node:crypto'
import { connect, createServer, type Server, type Socket } from 'node:net'
import pg from 'pg'
import { inject } from 'vitest'
import { migrateDeploy } from '../../src/db/migrate.js'

/**
 * Database fixtures: the test database and admin queries on its server, rows made and locked
 * from outside the service, and waits on what PostgreSQL itself reports (pg_stat_activity,
 * pg_blocking_pids) instead of sleeps. Every app and process a test starts connects with an
 * application_name of its own, so a test finds the service's own backends and nobody else's,
 * though other files run against the same server at the same time. A relay that records what
 * the service sends on the wire (startup parameters, statements) proves what a pooler sees.
 * Tests that crash a database get one of their own: a fresh database, or a PostgreSQL server
 * started with pg_ctl.
 */

/** The migrated database the service tests run against (made by global-setup.ts). */
export const testDatabaseUrl = (): string => inject('databaseUrl')

/** A superuser URL on the test server, for tests that make databases of their own. */
export const adminDatabaseUrl = (): string => inject('adminDatabaseUrl')

/** The same server and credentials, another database. */
export function withDatabase (url: string, database: string): string {
  const parsed = new URL(url)
  parsed.pathname = `/${database}`
  return parsed.toString()
}

/**
 * The URL with an application_name, which pg sends on every connection it opens and which
 * wins over the pool's own 'user-rpc': pg_stat_activity then names the backends of one app.
 */
export function withApplicationName (url: string, applicationName: string): string {
  const parsed = new URL(url)
  parsed.searchParams.set('application_name', applicationName)
  return parsed.toString()
}

/** A name no other test uses: tests share one server and run in parallel. */
export const uniqueName = (prefix: string): string => `${prefix}-${randomBytes(5).toString('hex')}`

/** A login no other test uses (logins are at most 30 characters). */
export const uniqueLogin = (prefix = 'u'): string => `${prefix}-${randomBytes(6).toString('hex')}`.slice(0, 30)

/** Runs one statement on its own connection and returns the rows. */
export async function adminQuery<R extends Record<string, unknown> = Record<string, unknown>> (url: string, sql: string, params: unknown[] = []): Promise<R[]> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    return (await client.query<R>(sql, params)).rows
  } finally {
    await client.end()
  }
}

let observer: pg.Pool | undefined

/**
 * One statement on the test database, from outside the service: what others see. A small
 * pool of its own serves them, so waits that ask many times do not open a connection each.
 */
export async function query<R extends Record<string, unknown> = Record<string, unknown>> (sql: string, params: unknown[] = []): Promise<R[]> {
  observer ??= new pg.Pool({ connectionString: testDatabaseUrl(), max: 2, idleTimeoutMillis: 1000, allowExitOnIdle: true })
  return (await observer.query<R>(sql, params)).rows
}

/** Rows with this login, counted from outside the service. */
export async function countUsers (login: string): Promise<number> {
  const [row] = await query<{ n: number }>('SELECT count(*)::int AS n FROM users WHERE login = $1', [login])
  return row?.n ?? 0
}

export interface UserRow {
  id: number
  login: string
  first_name: string | null
  last_name: string | null
}

/** Inserts a user directly (not through the service), for tests about something else. */
export async function insertUser (login = uniqueLogin('row'), firstName: string | null = null): Promise<UserRow> {
  const [row] = await query<UserRow & Record<string, unknown>>(
    'INSERT INTO users (login, first_name, updated_at) VALUES ($1, $2, now()) RETURNING id, login, first_name, last_name', [login, firstName])
  if (!row) throw new Error('insert returned no row')
  return row
}

/** A user's row as another connection sees it now (committed data only). */
export async function readUser (id: number): Promise<UserRow | undefined> {
  const [row] = await query<UserRow & Record<string, unknown>>('SELECT id, login, first_name, last_name FROM users WHERE id = $1', [id])
  return row
}

/**
 * A connection of the test's own with an open transaction: it holds the locks it takes until
 * `end` commits or rolls back. `pid` names its backend, so waits can ask who it blocks.
 */
export interface Session {
  pid: number
  /** Runs a statement inside the transaction; resolves when it is done (it may wait for a lock). */
  run: (sql: string, params?: unknown[]) => Promise<pg.QueryResult>
  /** COMMIT or ROLLBACK, then close; later calls do nothing. */
  end: (how?: 'COMMIT' | 'ROLLBACK') => Promise<void>
}

export async function openSession (url = testDatabaseUrl()): Promise<Session> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  const [row] = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows
  await client.query('BEGIN')
  let ended = false
  return {
    pid: row?.pid ?? 0,
    run: (sql, params = []) => client.query(sql, params),
    end: async (how = 'COMMIT') => {
      if (ended) return
      ended = true
      try {
        await client.query(how)
      } finally {
        await client.end()
      }
    },
  }
}

/**
 * Locks a user's row (`SELECT … FOR UPDATE`) in a session of its own: a service call that
 * writes the row waits inside its transaction, in flight, until the session ends.
 */
export async function lockRow (id: number): Promise<Session> {
  const session = await openSession()
  await session.run('SELECT id FROM users WHERE id = $1 FOR UPDATE', [id])
  return session
}

/**
 * Polls `check` until it returns a value other than undefined; fails with `what` after
 * `timeoutMs` (20 s unless a slower thing, such as a process starting, is waited for).
 */
export async function waitFor<T> (what: string, check: () => Promise<T | undefined> | T | undefined, intervalMs = 10, timeoutMs = 20_000): Promise<T> {
  const deadline = performance.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value !== undefined) return value
    if (performance.now() > deadline) throw new Error(`waited ${Math.round(timeoutMs / 1000)} s for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, intervalMs))
  }
}

/**
 * The backends of one app or process (by its application_name) that wait for a lock: held by
 * `by` when given, by anyone otherwise.
 */
export async function blockedBackends (applicationName: string, by?: number): Promise<number[]> {
  const rows = await query<{ pid: number }>(
    `SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND ${by === undefined ? 'cardinality(pg_blocking_pids(pid)) > 0' : '$2::int = ANY(pg_blocking_pids(pid))'} ORDER BY pid`,
    by === undefined ? [applicationName] : [applicationName, by])
  return rows.map((row) => row.pid)
}

/**
 * Resolves once `count` backends of the app named `applicationName` wait for a lock (held by
 * `by`, when given): the service's calls are then in flight, blocked inside their
 * transactions. Returns their pids.
 */
export async function waitForBlockedCalls (applicationName: string, { by, count = 1 }: { by?: number, count?: number } = {}): Promise<number[]> {
  const holder = by === undefined ? 'any session' : `session ${by}`
  return await waitFor(`${count} call(s) of ${applicationName} to wait for a lock held by ${holder}`, async () => {
    const pids = await blockedBackends(applicationName, by)
    return pids.length >= count ? pids : undefined
  })
}

/** Resolves once the backend `pid` waits for a lock (of anyone); returns who blocks it. */
export async function waitUntilWaiting (pid: number): Promise<number[]> {
  return await waitFor(`backend ${pid} to wait for a lock`, async () => {
    const [row] = await query<{ blockers: number[] }>('SELECT pg_blocking_pids($1::int) AS blockers', [pid])
    return row && row.blockers.length > 0 ? row.blockers : undefined
  })
}

/**
 * A TCP proxy in front of the test database that a test can make misbehave: `hang` stops
 * every byte both ways and holds new connections unanswered (a database that accepts and
 * never answers), `drop` cuts every connection and each new one at once (a database that is
 * down), `forward` serves again (held bytes and connections go through). It keeps its port for
 * its whole life, so nothing else can take it in between.
 */
export interface DatabaseProxy {
  /** The test database's URL, through the proxy. */
  url: (database?: string) => string
  hang: () => void
  drop: () => void
  forward: () => void
  close: () => Promise<void>
}

export async function startDatabaseProxy (targetUrl = testDatabaseUrl()): Promise<DatabaseProxy> {
  const target = new URL(targetUrl)
  let mode: 'forward' | 'hang' | 'drop' = 'forward'
  const pairs = new Set<{ client: Socket, upstream?: Socket }>()
  const held: Array<() => void> = []

  const link = (pair: { client: Socket, upstream?: Socket }) => {
    const upstream = connect(Number(target.port || 5432), target.hostname)
    pair.upstream = upstream
    pair.client.on('data', (chunk) => upstream.write(chunk))
    upstream.on('data', (chunk) => pair.client.write(chunk))
    upstream.on('close', () => pair.client.destroy())
    upstream.on('error', () => pair.client.destroy())
    pair.client.resume()
  }
  const server: Server = createServer({ pauseOnConnect: true }, (client) => {
    const pair: { client: Socket, upstream?: Socket } = { client }
    pairs.add(pair)
    client.on('close', () => { pair.upstream?.destroy(); pairs.delete(pair) })
    client.on('error', () => client.destroy())
    if (mode === 'drop') client.destroy()
    else if (mode === 'hang') held.push(() => link(pair))
    else link(pair)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }

  return {
    url: (database = target.pathname.slice(1)) => {
      const url = new URL(targetUrl)
      url.hostname = '127.0.0.1'
      url.port = String(port)
      url.pathname = `/${database}`
      return url.toString()
    },
    hang: () => {
      mode = 'hang'
      for (const { client, upstream } of pairs) { client.pause(); upstream?.pause() }
    },
    drop: () => {
      mode = 'drop'
      for (const { client } of pairs) client.destroy()
    },
    forward: () => {
      mode = 'forward'
      for (const { client, upstream } of pairs) { client.resume(); upstream?.resume() }
      for (const release of held.splice(0)) release()
    },
    close: async () => {
      for (const { client } of pairs) client.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

/**
 * A database URL where connections are refused: a port this test holds on 127.0.0.1, dialled
 * on 127.0.0.2. Nothing can listen there meanwhile (a wildcard bind would collide with ours),
 * unlike a port found free, released, and hoped to stay free.
 */
export async function refusingDatabaseUrl (): Promise<{ url: string, close: () => Promise<void> }> {
  const holder = createServer((socket) => socket.destroy())
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve))
  const { port } = holder.address() as { port: number }
  return {
    url: `postgresql://nobody:secret@127.0.0.2:${port}/nothing`,
    close: () => new Promise<void>((resolve) => holder.close(() => resolve())),
  }
}

/** What a PostgreSQL client sent through a WireRecorder. */
export interface WireRecord {
  /** Each connection's startup parameters (user, database, application_name, …). */
  startups: Array<Record<string, string>>
  /** Every statement text, from simple-protocol Query and extended-protocol Parse messages. */
  statements: string[]
  /** Names given to prepared statements (Parse with a name); empty when all are unnamed. */
  statementNames: string[]
}

/**
 * A TCP relay in front of a PostgreSQL server (or PgBouncer) that records what clients
 * send: the startup packet's parameters and every statement. It reads the frontend side
 * of the protocol only, and forwards every byte unchanged both ways.
 */
export async function startWireRecorder (targetPort: number) {
  const record: WireRecord = { startups: [], statements: [], statementNames: [] }
  const sockets = new Set<Socket>()
  const server = createServer((client) => {
    const upstream = connect(targetPort, '127.0.0.1')
    sockets.add(client)
    sockets.add(upstream)
    client.on('close', () => { sockets.delete(client); upstream.destroy() })
    upstream.on('close', () => { sockets.delete(upstream); client.destroy() })
    client.on('error', () => upstream.destroy())
    upstream.on('error', () => client.destroy())
    upstream.pipe(client)
    let pending = Buffer.alloc(0)
    let started = false
    client.on('data', (chunk: Buffer) => {
      upstream.write(chunk)
      pending = Buffer.concat([pending, chunk])
      for (;;) {
        if (!started) {
          if (pending.length < 8) return
          const length = pending.readInt32BE(0)
          if (pending.length < length) return
          const code = pending.readInt32BE(4)
          if (code === 196608) record.startups.push(startupParameters(pending.subarray(8, length)))
          // SSLRequest and GSSENCRequest come before the real startup packet.
          else if (code === 80877103 || code === 80877104) { pending = pending.subarray(length); continue }
          started = true
          pending = pending.subarray(length)
          continue
        }
        if (pending.length < 5) return
        const length = pending.readInt32BE(1)
        if (pending.length < length + 1) return
        const type = String.fromCharCode(pending[0] ?? 0)
        const body = pending.subarray(5, length + 1)
        if (type === 'Q') record.statements.push(cString(body, 0).text)
        if (type === 'P') {
          const name = cString(body, 0)
          record.statements.push(cString(body, name.next).text)
          if (name.text !== '') record.statementNames.push(name.text)
        }
        pending = pending.subarray(length + 1)
      }
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  const port = typeof address === 'object' && address ? address.port : 0
  return {
    port,
    record,
    close: async () => {
      for (const socket of sockets) socket.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

function cString (buffer: Buffer, start: number) {
  const end = buffer.indexOf(0, start)
  return { text: buffer.toString('utf8', start, end), next: end + 1 }
}

function startupParameters (body: Buffer): Record<string, string> {
  const parameters: Record<string, string> = {}
  let offset = 0
  for (;;) {
    const key = cString(body, offset)
    if (key.text === '') break
    const value = cString(body, key.next)
    parameters[key.text] = value.text
    offset = value.next
  }
  return parameters
}

/** A fresh, migrated database of a test's own on the test server, and how to drop it. */
export interface OwnDatabase {
  url: string
  drop: () => Promise<void>
}

/**
 * For tests whose calls may touch any row (arbitrary ids, deletes), and so must not share the
 * suite's database with files running beside them.
 */
export async function createOwnDatabase (prefix: string): Promise<OwnDatabase> {
  const adminUrl = adminDatabaseUrl()
  const name = `${prefix}_${randomBytes(4).toString('hex')}`
  await adminQuery(adminUrl, `CREATE DATABASE ${pg.escapeIdentifier(name)}`)
  const url = withDatabase(adminUrl, name)
  const drop = async () => { await adminQuery(adminUrl, `DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`) }
  try {
    await migrateDeploy(url)
  } catch (error) {
    await drop()
    throw error
  }
  return { url, drop }
}

/** Logins starting with `prefix-` in the users table at `url`, read over a connection of its own. */
export async function storedLogins (url: string, prefix: string): Promise<Set<string>> {
  const rows = await adminQuery<{ login: string }>(url, "SELECT login FROM users WHERE starts_with(login, $1 || '-')", [prefix])
  return new Set(rows.map((row) => row.login))
}
