import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { migrateDeploy } from '../src/db/migrate.js'
import { shippedMigrations } from '../src/db/migration-state.js'
import { buildTestApp, type TestApp } from './support/clients.js'
import { adminDatabaseUrl, adminQuery, startDatabaseProxy, uniqueName, withDatabase, type DatabaseProxy } from './support/database.js'

/** docs/operations.md, Health (GET /healthz for liveness, GET /readyz for readiness). */

const WRITER = 'writer-secret-0123456789abcdef'

const apps: TestApp[] = []
afterAll(async () => { for (const app of apps) await app.close() })
const service = async (env: Record<string, string>, databaseUrl?: string) => {
  const app = await buildTestApp(env, databaseUrl ? { databaseUrl } : {})
  apps.push(app)
  return app
}
const get = async (app: TestApp, url: string, remoteAddress?: string) => {
  const response = await app.inject({ method: 'GET', url, ...(remoteAddress ? { remoteAddress } : {}) })
  return { status: response.statusCode, body: response.headers['content-type']?.toString().startsWith('application/json') ? response.json() : response.body }
}

describe('on a database that answers', () => {
  it('when the database answers and is migrated, then both are 200', async () => {
    const app = await service({})
    expect(await get(app, '/healthz')).toEqual({ status: 200, body: { status: 'ok' } })
    expect(await get(app, '/readyz')).toEqual({ status: 200, body: { status: 'ok' } })
  })

  it('when the service has API keys, then /healthz and /readyz still need none', async () => {
    const app = await service({ API_KEYS: `billing:write:${WRITER}` })
    expect((await get(app, '/healthz')).status).toBe(200)
    expect((await get(app, '/readyz')).status).toBe(200)
  })

  it('when an address has used up its rate limit on /rpc, then /healthz, /readyz and /metrics still answer it', async () => {
    const app = await service({ RATE_LIMIT_PER_IP: '1' })
    const rpc = () => app.inject({ method: 'POST', url: '/rpc', remoteAddress: '10.1.2.3', headers: { 'content-type': 'application/json' }, payload: { jsonrpc: '2.0', method: 'user.get', params: { id: 0 }, id: 1 } })
    expect((await rpc()).statusCode).toBe(200)
    expect((await rpc()).statusCode).toBe(429)
    for (let i = 0; i < 3; i++) {
      for (const url of ['/healthz', '/readyz', '/metrics']) expect((await get(app, url, '10.1.2.3')).status, url).toBe(200)
    }
  })
})

// prisma migrate deploy takes seconds, and many times that on a loaded machine.
describe('/readyz and migrations', { timeout: 120_000 }, () => {
  const name = `ready_${uniqueName('db').replace('-', '_')}`
  const url = withDatabase(adminDatabaseUrl(), name)
  beforeAll(async () => { await adminQuery(adminDatabaseUrl(), `CREATE DATABASE ${name}`) })
  afterAll(async () => { await adminQuery(adminDatabaseUrl(), `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) })

  it('when migrations are pending, then 503 names them; after prisma migrate deploy, 200', async () => {
    const app = await service({}, url)
    const pending = await get(app, '/readyz')
    expect(pending).toEqual({ status: 503, body: { status: 'unavailable', reason: 'migrations pending', pending: await shippedMigrations() } })

    await migrateDeploy(url)
    expect(await get(app, '/readyz')).toEqual({ status: 200, body: { status: 'ok' } })
  })
})

describe('/readyz when the database misbehaves', () => {
  let proxy: DatabaseProxy
  beforeAll(async () => { proxy = await startDatabaseProxy() })
  afterAll(async () => {
    proxy.forward()
    for (const app of apps.splice(0)) await app.close()
    await proxy.close()
  })

  it('when the database accepts and never answers, then /readyz gives up after READINESS_TIMEOUT_MS with 503, /healthz stays 200, and it recovers', async () => {
    // The pool's own connect timeout far above the readiness bound: only READINESS_TIMEOUT_MS can end the wait.
    const app = await service({ READINESS_TIMEOUT_MS: '300', DATABASE_CONNECT_TIMEOUT_MS: '60000' }, proxy.url())
    expect((await get(app, '/readyz')).status).toBe(200)

    proxy.hang()
    const started = performance.now()
    const hanging = await get(app, '/readyz')
    const waited = performance.now() - started
    expect(hanging).toEqual({ status: 503, body: { status: 'unavailable', reason: 'database not answering' } })
    expect(waited).toBeGreaterThanOrEqual(250)
    expect(waited).toBeLessThan(20_000)
    expect(await get(app, '/healthz')).toEqual({ status: 200, body: { status: 'ok' } })

    proxy.forward()
    expect((await get(app, '/readyz')).status).toBe(200)
  })

  it('when the database drops every connection, then /readyz is 503, /healthz stays 200, and it recovers', async () => {
    const app = await service({ READINESS_TIMEOUT_MS: '1000', DATABASE_CONNECT_TIMEOUT_MS: '60000' }, proxy.url())
    expect((await get(app, '/readyz')).status).toBe(200)

    proxy.drop()
    expect(await get(app, '/readyz')).toEqual({ status: 503, body: { status: 'unavailable', reason: 'database not answering' } })
    expect(await get(app, '/healthz')).toEqual({ status: 200, body: { status: 'ok' } })

    proxy.forward()
    expect((await get(app, '/readyz')).status).toBe(200)
  })
})
