import { afterEach, describe, expect, it } from 'vitest'
import { buildTestApp, call, metricValue, type TestApp } from './support/clients.js'
import { refusingDatabaseUrl, uniqueLogin } from './support/database.js'

/**
 * Read routing's edges that need no replica server (test/scale-out.test.ts has the real
 * ones): a replica that was never reachable, the X-Consistency header.
 */

const apps: TestApp[] = []
const closers: Array<() => Promise<void>> = []
afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()))
  await Promise.all(closers.splice(0).map((close) => close()))
})

async function appWith (env: Record<string, string>) {
  const app = await buildTestApp(env)
  apps.push(app)
  return app
}

describe('read routing without a reachable replica', () => {
  it('when the only replica cannot be reached from the start, then reads answer from the primary, counted, logged once, and /readyz stays 200 naming it down', async () => {
    const refusing = await refusingDatabaseUrl()
    closers.push(refusing.close)
    const replicaUrl = new URL(refusing.url)
    replicaUrl.username = 'reader'
    replicaUrl.password = 'secret-pw'
    const name = replicaUrl.host
    const app = await appWith({ DATABASE_REPLICA_URLS: replicaUrl.toString(), DATABASE_CONNECT_TIMEOUT_MS: '500' })
    const login = uniqueLogin('unreachable')
    const created = await call(app, 'user.create', { login })
    expect(created.body.result).toMatchObject({ login })
    for (let read = 0; read < 3; read++) {
      expect((await call(app, 'user.getByLogin', { login })).body.result).toMatchObject({ login })
    }

    const metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body
    expect(metricValue(metrics, 'db_replica_fallbacks_total')).toBe(3)
    expect(metricValue(metrics, 'db_replica_up', { replica: name })).toBe(0)
    expect(metricValue(metrics, 'db_replica_reads_total')).toBe(0)
    const ready = await app.inject({ method: 'GET', url: '/readyz' })
    expect(ready.statusCode).toBe(200)
    expect(ready.json()).toMatchObject({ status: 'ok', replicas: [{ name, status: 'down', reason: expect.any(String) }] })
    expect(ready.body).not.toContain('secret-pw')
    expect(app.logLines.filter((line) => line.msg?.startsWith('replica unavailable'))).toEqual([expect.objectContaining({ replica: name })])
  })

  it('when no replica is configured, then /readyz and /metrics say nothing of replicas', async () => {
    const app = await appWith({})
    expect((await app.inject({ method: 'GET', url: '/readyz' })).json()).toEqual({ status: 'ok' })
    expect((await app.inject({ method: 'GET', url: '/metrics' })).body).not.toContain('db_replica')
  })
})

describe('X-Consistency', () => {
  it('when it is strong or eventual in any case, then the call runs; any other value is HTTP 400 with a -32600 body, and nothing runs', async () => {
    const app = await appWith({})
    for (const value of ['strong', 'Eventual', ' STRONG ']) {
      expect((await call(app, 'user.list', { limit: 1 }, 1, { 'x-consistency': value })).status).toBe(200)
    }
    const login = uniqueLogin('refused')
    const refused = await call(app, 'user.create', { login }, 1, { 'x-consistency': 'strnog' })
    expect({ status: refused.status, body: refused.body }).toEqual({
      status: 400,
      body: { jsonrpc: '2.0', id: null, error: { code: -32600, message: 'Invalid Request', data: { reason: 'X-Consistency must be strong or eventual' } } },
    })
    expect((await call(app, 'user.getByLogin', { login })).body.error).toMatchObject({ code: -32004 })
  })
})
