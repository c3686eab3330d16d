import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startPooledPrimary, withClient, type PooledPrimary } from '../scripts/postgres-topology.js'
import { callOnNewConnection } from './support/clients.js'
import { uniqueLogin } from './support/database.js'
import { killLeftoverServices, startService, type ServiceProcess } from './support/processes.js'

/**
 * docs/retries.md through PgBouncer 1.18 in transaction pooling mode, with the service at its
 * default settings: the unique index that serializes calls with one key, and the UPDATE that
 * checks a version, hold when every transaction may land on another server connection.
 */

const DATABASE = 'user_rpc'
const ADMIN_PASSWORD = 'admin-secret-5b31c9'

let servers: PooledPrimary
let service: ServiceProcess

beforeAll(async () => {
  servers = await startPooledPrimary({ prefix: 'idem', database: DATABASE, users: { postgres: ADMIN_PASSWORD }, poolSize: 4 })
  service = await startService({
    DATABASE_URL: servers.bouncer.url(DATABASE),
    DIRECT_DATABASE_URL: servers.primary.url(DATABASE),
    MIGRATE_ON_START: 'true',
    // PgBouncer 1.18 cannot carry named statements between connections (main makes this the default).
    DATABASE_PREPARED_STATEMENTS: 'false',
  })
}, 180_000)

afterAll(async () => {
  await service?.stop()
  killLeftoverServices()
  await servers?.stop()
}, 60_000)

const count = (sql: string, params: unknown[]) =>
  withClient(servers.primary.url(DATABASE), async (client) => Number((await client.query<{ n: string }>(sql, params)).rows[0]?.n))

describe('idempotency keys and versions behind PgBouncer (transaction pooling)', { timeout: 60_000 }, () => {
  it('when 20 calls with one key arrive at once, then one user is created and all 20 get the same answer', async () => {
    const key = randomUUID()
    const login = uniqueLogin('pgb')
    const answers = await Promise.all(Array.from({ length: 20 }, () =>
      callOnNewConnection(service.url, 'user.create', { login, idempotencyKey: key })))
    const first = answers[0]?.body.result
    expect(first).toMatchObject({ login, version: 1 })
    for (const answer of answers) expect(answer.body.result).toEqual(first)
    expect(await count('SELECT count(*) AS n FROM users WHERE login = $1', [login])).toBe(1)
    expect(await count('SELECT count(*) AS n FROM idempotency_keys WHERE key = $1', [key])).toBe(1)
  })

  it('when 20 updates expecting one version arrive at once, then one is applied and 19 get -32013', async () => {
    const created = (await callOnNewConnection(service.url, 'user.create', { login: uniqueLogin('pgv') })).body.result
    const answers = await Promise.all(Array.from({ length: 20 }, (_, index) =>
      callOnNewConnection(service.url, 'user.update', { id: created.id, firstName: `R${index}`, expectedVersion: 1 })))
    expect(answers.filter((answer) => answer.body.result)).toHaveLength(1)
    const refused = answers.filter((answer) => answer.body.error)
    expect(refused).toHaveLength(19)
    for (const answer of refused) expect(answer.body.error).toMatchObject({ code: -32013, data: { id: created.id, expectedVersion: 1, currentVersion: 2 } })
  })
})
