import { join } from 'node:path'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  startPgBouncer,
  startPooledPrimary,
  startReplica,
  waitForReplay,
  withClient,
  type Bouncer,
  type PooledPrimary,
  type PostgresServer,
} from '../scripts/postgres-topology.js'
import { shippedMigrations } from '../src/db/migration-state.js'
import { callOnNewConnection, getOnNewConnection, metricValue } from './support/clients.js'
import { startWireRecorder, uniqueLogin } from './support/database.js'
import { killLeftoverServices, startService, type ServiceProcess } from './support/processes.js'

/**
 * docs/scaling.md, proven on real servers on 127.0.0.1: Debian's PostgreSQL as a
 * primary and a streaming replica of it (pg_basebackup -R), PgBouncer 1.18 in transaction
 * pooling mode in front of the primary, and two service processes on one database. The
 * runtime connects as a role that may not create tables, through PgBouncer; migrations
 * run as the owner on the direct URL.
 *
 * Where a transaction ran is read from outside, from each server's pg_stat_statements:
 * the service has no test-only method.
 */

const DATABASE = 'user_rpc'
const APP_ROLE = 'user_rpc_app'
const APP_PASSWORD = 'app-secret-2f9c41'
const ADMIN_PASSWORD = 'admin-secret-8d02e7'

let servers: PooledPrimary
let root: string
let primary: PostgresServer
let replica: PostgresServer
let bouncer: Bouncer
let recorder: Awaited<ReturnType<typeof startWireRecorder>>
/** A service process, and calls to it each on a connection of its own (as through a load balancer). */
interface Instance {
  process: ServiceProcess
  call: (method: string, params?: unknown, headers?: Record<string, string>) => ReturnType<typeof callOnNewConnection>
  get: (path: string) => Promise<{ status: number, text: string }>
}
/** Default isolation; migrates at start. */
let a: Instance
/** TX_ISOLATION_LEVEL=Serializable. */
let b: Instance

async function startInstance (env: Record<string, string>): Promise<Instance> {
  const service = await startService(env)
  return {
    process: service,
    call: (method, params, headers) => callOnNewConnection(service.url, method, params, headers),
    get: (path) => getOnNewConnection(service.url, path),
  }
}

beforeAll(async () => {
  servers = await startPooledPrimary({ prefix: 'scale', database: DATABASE, users: { postgres: ADMIN_PASSWORD, [APP_ROLE]: APP_PASSWORD }, poolSize: 4 })
  ;({ root, primary, bouncer } = servers)
  // Least privilege: the runtime's role reads and writes rows; only the owner changes the schema.
  await withClient(primary.url(DATABASE), (client) => client.query(`
    CREATE ROLE ${APP_ROLE} LOGIN;
    GRANT USAGE ON SCHEMA public TO ${APP_ROLE};
    ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO ${APP_ROLE};
    ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO ${APP_ROLE};
  `))
  // Both instances reach PgBouncer through a relay that records what they send.
  recorder = await startWireRecorder(bouncer.port)
  const pooled = new URL(bouncer.url(DATABASE, APP_ROLE))
  pooled.port = String(recorder.port)

  // The replica is copied before the schema exists: it streams the migration like any write.
  replica = await startReplica(primary, { root, fast: true })
  // Nothing about PgBouncer is set: the defaults must serve behind a transaction-mode pooler.
  const settings = {
    DATABASE_POOL_MAX: '4',
    DATABASE_REPLICA_URLS: replica.url(DATABASE),
    DATABASE_REPLICA_RETRY_MS: '200',
  }
  // One instance migrates at start (MIGRATE_ON_START) through the direct URL: as a release step would, once.
  a = await startInstance({ ...settings, DATABASE_URL: pooled.toString(), DIRECT_DATABASE_URL: primary.url(DATABASE), MIGRATE_ON_START: 'true' })
  b = await startInstance({ ...settings, DATABASE_URL: pooled.toString(), TX_ISOLATION_LEVEL: 'Serializable' })
}, 180_000)

afterAll(async () => {
  await Promise.all([a?.process.stop(), b?.process.stop()])
  killLeftoverServices()
  await recorder?.close()
  await replica?.stop().catch(() => {})
  await servers?.stop()
}, 60_000)

/** Calls of statements that read the users table, on one server. */
async function userReads (server: PostgresServer): Promise<number> {
  return await withClient(server.url(DATABASE), async (client) => {
    const { rows } = await client.query<{ calls: string | null }>(
      `SELECT sum(calls) AS calls FROM pg_stat_statements
        WHERE query LIKE 'SELECT %FROM "public"."users"%' AND dbid = (SELECT oid FROM pg_database WHERE datname = $1)`,
      [DATABASE]
    )
    return Number(rows[0]?.calls ?? 0)
  })
}

async function createUser (instance: Instance, login = uniqueLogin('s')) {
  const answer = await instance.call('user.create', { login, firstName: 'Ada' })
  expect(answer.body.error).toBeUndefined()
  return answer.body.result as { id: number, login: string }
}

describe('behind PgBouncer (transaction pooling) with migrations on the direct URL', () => {
  it('when MIGRATE_ON_START is on, then the owner on DIRECT_DATABASE_URL migrates, and the runtime role only serves', async () => {
    const applied = await withClient(primary.url(DATABASE), async (client) => ({
      migrations: (await client.query<{ migration_name: string }>('SELECT migration_name FROM _prisma_migrations WHERE finished_at IS NOT NULL ORDER BY 1')).rows.map((row) => row.migration_name),
      owner: (await client.query<{ tableowner: string }>('SELECT tableowner FROM pg_tables WHERE tablename = \'users\'')).rows[0]?.tableowner,
    }))
    expect(applied).toEqual({ migrations: await shippedMigrations(), owner: 'postgres' })
    expect(a.process.lines.filter((line) => line.msg === 'user-rpc ready')).toHaveLength(1)
    expect((await a.get('/readyz')).status).toBe(200)
  })

  it('when every method is called through PgBouncer, then each answers as it does on a direct connection', async () => {
    const strong = { 'x-consistency': 'strong' }
    const login = uniqueLogin('every')
    const created = await a.call('user.create', { login, firstName: 'Ada', lastName: 'Lovelace' })
    expect(created.body.result).toMatchObject({ login, firstName: 'Ada', lastName: 'Lovelace' })
    const id = (created.body.result as { id: number }).id
    expect((await a.call('user.get', { id }, strong)).body.result).toMatchObject({ id, login })
    expect((await a.call('user.getByLogin', [login], strong)).body.result).toMatchObject({ id, login })
    expect((await a.call('user.update', { id, lastName: null })).body.result).toMatchObject({ id, lastName: null })
    expect((await a.call('user.list', { loginPrefix: login, limit: 5 }, strong)).body.result).toMatchObject({ items: [{ id, lastName: null }], nextCursor: null })
    expect((await a.call('user.create', { login })).body.error).toMatchObject({ code: -32009, data: { login } })
    const legacy = await a.call('create_user', [`${login}-x`, 'Grace', 'Hopper'])
    expect(legacy.body.result).toMatchObject({ login: `${login}-x`, first_name: 'Grace' })
    const legacyId = (legacy.body.result as { user_id: number }).user_id
    expect((await a.call('get_user', [legacyId], strong)).body.result).toEqual({ user_id: legacyId, login: `${login}-x`, first_name: 'Grace', last_name: 'Hopper' })
    expect((await a.call('user.delete', { id })).body.result).toMatchObject({ id })
    expect((await a.call('user.get', { id }, strong)).body.error).toMatchObject({ code: -32004 })
    expect((await a.call('rpc.discover')).body.result).toMatchObject({ openrpc: expect.any(String) })
  })

  it('when the service talks to PgBouncer, then it sends only startup parameters PgBouncer tracks, no session statement and no named statement', async () => {
    // Start-up's queries, the previous test's calls, and a call at Serializable.
    expect((await b.call('user.list', { limit: 1 }, { 'x-consistency': 'strong' })).body.error).toBeUndefined()
    expect(recorder.record.statements).toContain('SET TRANSACTION ISOLATION LEVEL SERIALIZABLE')
    expect(recorder.record.statements.length).toBeGreaterThan(10)
    expect(recorder.record.startups.length).toBeGreaterThan(0)
    const tracked = new Set(['user', 'database', 'application_name', 'client_encoding', 'datestyle', 'timezone', 'standard_conforming_strings'])
    for (const startup of recorder.record.startups) expect(Object.keys(startup).filter((name) => !tracked.has(name))).toEqual([])
    const sessionLevel = /^\s*(SET\s+(SESSION\s+)?(?!LOCAL\b|TRANSACTION\b)|RESET\b|DISCARD\b|PREPARE\b|DEALLOCATE\b|LISTEN\b|LOAD\b|DECLARE\b.*\bWITH\s+HOLD\b|CREATE\s+TEMP)|pg_advisory_(xact_)?lock|set_config\s*\(.*false\s*\)/is
    expect(recorder.record.statements.filter((sql) => sessionLevel.test(sql))).toEqual([])
    expect(recorder.record.statementNames).toEqual([])
  })

  it('when a call\'s row changes under it at Serializable, then it re-runs after the serialization failure and succeeds, and the retry is counted', async () => {
    const user = await createUser(b)
    await withClient(primary.url(DATABASE), async (locker) => {
      await locker.query('BEGIN')
      await locker.query('UPDATE users SET first_name = $1 WHERE id = $2', ['Locker', user.id])
      const update = b.call('user.update', { id: user.id, lastName: 'Retried' })
      // Its UPDATE has taken its snapshot and waits for the row: committing now makes it 40001.
      for (let waiting = 0; waiting === 0; await new Promise((resolve) => setTimeout(resolve, 20))) {
        const { rows } = await locker.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_locks WHERE NOT granted')
        waiting = rows[0]?.n ?? 0
      }
      await locker.query('COMMIT')
      expect((await update).body.result).toMatchObject({ id: user.id, firstName: 'Locker', lastName: 'Retried' })
    })
    expect(metricValue((await b.get('/metrics')).text, 'rpc_transaction_retries_total', { method: 'user.update' })).toBe(1)
  })
})

describe('named prepared statements behind PgBouncer 1.18 (transaction mode)', () => {
  /**
   * The pooler's way of losing a named statement, made to happen every time: after a call has
   * prepared its statements, sessions of our own hold every server connection PgBouncer has
   * opened so far, each in a transaction (an idle one is handed out before a new one is
   * opened), so the service's next transaction gets a new server connection, which has none of
   * its statements.
   */
  async function createOnAFreshServerConnection (env: Record<string, string>, name: string) {
    const own = await startPgBouncer({ root: join(root, name), server: primary, users: { postgres: ADMIN_PASSWORD, [APP_ROLE]: APP_PASSWORD }, poolSize: 6 })
    const service = await startService({ DATABASE_URL: own.url(DATABASE, APP_ROLE), DATABASE_POOL_MAX: '1', ...env })
    const holders: Array<Awaited<ReturnType<typeof openHolder>>> = []
    const openHolder = async () => {
      const client = new pg.Client({ connectionString: own.url(DATABASE, APP_ROLE) })
      await client.connect()
      await client.query('BEGIN')
      await client.query('SELECT 1')
      return client
    }
    try {
      // The same call's shape as below, so the same statements.
      expect((await callOnNewConnection(service.url, 'user.create', { login: uniqueLogin('warm'), firstName: 'Ada' })).body.error).toBeUndefined()
      const opened = await withClient(own.adminUrl, async (console) =>
        (await console.query<{ user: string }>('SHOW SERVERS')).rows.filter((server) => server.user === APP_ROLE).length)
      expect(opened).toBeLessThan(6)
      for (let held = 0; held < opened; held++) holders.push(await openHolder())
      const login = uniqueLogin('fresh')
      const answer = await callOnNewConnection(service.url, 'user.create', { login, firstName: 'Ada' })
      const rows = await withClient(primary.url(DATABASE), async (client) => (await client.query('SELECT 1 FROM users WHERE login = $1', [login])).rowCount)
      return { answer, rows, lines: service.lines }
    } finally {
      for (const holder of holders) await holder.end()
      await service.stop()
      await own.stop()
    }
  }

  it('when every setting is at its default, then a call on a server connection it has not used before is answered', async () => {
    const { answer, rows } = await createOnAFreshServerConnection({}, 'unnamed')
    expect(answer.body.result).toMatchObject({ firstName: 'Ada' })
    expect(rows).toBe(1)
  })

  it('when DATABASE_PREPARED_STATEMENTS=true and the pooler loses a statement, then the call is -32011, nothing is written, and the log names the setting', async () => {
    const { answer, rows, lines } = await createOnAFreshServerConnection({ DATABASE_PREPARED_STATEMENTS: 'true' }, 'named')
    expect(answer.body.error).toEqual({ code: -32011, message: 'Database unavailable', data: { retryable: true } })
    expect(rows).toBe(0)
    const logged = lines.filter((line) => String(line.msg).includes('set DATABASE_PREPARED_STATEMENTS=false'))
    expect(logged).toHaveLength(1)
    expect(logged[0]).toMatchObject({ level: 50, rpcMethod: 'user.create', reason: expect.stringMatching(/^26000: prepared statement "user_rpc_\w+" does not exist$/) })
  })
})

describe('two instances on one database', () => {
  it('when ordinary calls come from both instances at once, with every setting at its default, then every one is answered and none is -32603', async () => {
    const prefix = uniqueLogin('mix').slice(0, 12)
    const logins = Array.from({ length: 40 }, (_, index) => index % 3 === 0
      ? `${prefix}-${'x'.repeat(30)}`.slice(0, 27) + String(index).padStart(3, '0')
      : index % 3 === 1 ? `${prefix}-🦄-${index}` : `${prefix}-${index}`)
    const creates = await Promise.all(logins.map((login, index) => (index % 2 ? a : b).call('user.create', { login, firstName: 'Ada' })))
    expect(creates.map((answer) => answer.body.error)).toEqual(logins.map(() => undefined))
    expect(logins.filter((login) => login.length === 30)).not.toHaveLength(0)
    const strong = { 'x-consistency': 'strong' }
    const reads = await Promise.all(creates.flatMap((created, index) => {
      const { id, login } = created.body.result as { id: number, login: string }
      const instance = index % 2 ? b : a
      return [instance.call('user.get', { id }, strong), instance.call('user.getByLogin', { login }, strong), instance.call('user.list', { loginPrefix: prefix, limit: 50 }, strong)]
    }))
    expect(reads.filter((answer) => answer.body.error !== undefined).map((answer) => answer.body.error)).toEqual([])
    expect((reads[2]?.body.result as { items: unknown[] }).items.length).toBeGreaterThan(0)
  })

  it('when one login is created 60 times from both instances at once, then exactly one call succeeds and the others get -32009', async () => {
    const login = uniqueLogin('both')
    const answers = await Promise.all(Array.from({ length: 60 }, (_, index) => (index % 2 ? a : b).call('user.create', { login })))
    expect(answers.filter((answer) => answer.body.result).length).toBe(1)
    expect(answers.filter((answer) => answer.body.error?.code === -32009).length).toBe(59)
    const rows = await withClient(primary.url(DATABASE), async (client) => (await client.query('SELECT id FROM users WHERE login = $1', [login])).rowCount)
    expect(rows).toBe(1)
  })

  it('when a page\'s cursor from one instance is sent to the other, then the next page follows on', async () => {
    const prefix = uniqueLogin('page')
    const users = [await createUser(a, `${prefix}-1`), await createUser(b, `${prefix}-2`), await createUser(a, `${prefix}-3`)]
    await waitForReplay(primary, replica)
    const first = await a.call('user.list', { loginPrefix: prefix, limit: 2 })
    expect(first.body.result.items.map((user: { id: number }) => user.id)).toEqual([users[0]?.id, users[1]?.id])
    const second = await b.call('user.list', { loginPrefix: prefix, limit: 2, cursor: first.body.result.nextCursor })
    expect(second.body.result).toMatchObject({ items: [{ id: users[2]?.id }], nextCursor: null })
  })
})

describe('read replicas', () => {
  it('when a read-only method is called, then its transaction runs on the replica; writes and X-Consistency: strong reads run on the primary', async () => {
    const user = await createUser(a)
    await waitForReplay(primary, replica)
    const before = { primary: await userReads(primary), replica: await userReads(replica) }
    for (const instance of [a, b]) {
      expect((await instance.call('user.get', { id: user.id })).body.result).toMatchObject({ id: user.id })
      expect((await instance.call('user.getByLogin', { login: user.login })).body.result).toMatchObject({ id: user.id })
      expect((await instance.call('get_user', [user.id])).body.result).toMatchObject({ user_id: user.id })
    }
    expect({ primary: await userReads(primary), replica: await userReads(replica) }).toEqual({ primary: before.primary, replica: before.replica + 6 })

    expect((await a.call('user.get', { id: user.id }, { 'x-consistency': 'strong' })).body.result).toMatchObject({ id: user.id })
    expect((await b.call('user.list', { loginPrefix: user.login }, { 'x-consistency': 'strong' })).body.result).toMatchObject({ items: [{ id: user.id }] })
    expect({ primary: await userReads(primary), replica: await userReads(replica) }).toEqual({ primary: before.primary + 2, replica: before.replica + 6 })

    const metrics = (await a.get('/metrics')).text
    expect(metricValue(metrics, 'db_replica_reads_total')).toBeGreaterThanOrEqual(3)
    expect(metricValue(metrics, 'db_replica_up')).toBe(1)
  })

  it('when the replica stops, then reads answer from the primary, counted, logged once, and shown in /readyz; when it is back, reads return to it', async () => {
    const user = await createUser(a)
    await waitForReplay(primary, replica)
    const fallbacksBefore = metricValue((await a.get('/metrics')).text, 'db_replica_fallbacks_total')
    const primaryBefore = await userReads(primary)
    await replica.stop()
    try {
      for (let call = 0; call < 5; call++) {
        expect((await a.call('user.get', { id: user.id })).body.result).toMatchObject({ id: user.id })
      }
      expect(await userReads(primary)).toBe(primaryBefore + 5)
      const metrics = (await a.get('/metrics')).text
      expect(metricValue(metrics, 'db_replica_fallbacks_total') - fallbacksBefore).toBe(5)
      expect(metricValue(metrics, 'db_replica_up')).toBe(0)
      const ready = await a.get('/readyz')
      expect(ready.status).toBe(200)
      expect(JSON.parse(ready.text)).toMatchObject({ status: 'ok', replicas: [{ name: `127.0.0.1:${replica.port}`, status: 'down', reason: expect.any(String) }] })
      expect(a.process.lines.filter((line) => line.msg?.startsWith('replica unavailable'))).toHaveLength(1)
    } finally {
      await replica.start()
    }

    await a.process.waitForLine('that the replica answers again', (line) => line.msg?.startsWith('replica answers again') === true)
    expect(JSON.parse((await a.get('/readyz')).text)).toMatchObject({ replicas: [{ status: 'up' }] })
    const replicaBefore = await userReads(replica)
    expect((await a.call('user.get', { id: user.id })).body.result).toMatchObject({ id: user.id })
    expect(await userReads(replica)).toBe(replicaBefore + 1)
    expect(a.process.lines.filter((line) => line.msg?.startsWith('replica unavailable'))).toHaveLength(1)
  }, 90_000)
})
