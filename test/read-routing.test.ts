import { Writable } from 'node:stream'
import { pino } from 'pino'
import { afterEach, describe, expect, inject, it } from 'vitest'
import { freePort } from '../scripts/postgres-topology.js'
import { buildApp } from '../src/app.js'
import { ConfigError, loadConfig } from '../src/config.js'
import { metricValue } from './support/service-instances.js'

/**
 * Read routing's edges that need no replica server (test/scale-out.test.ts has the real
 * ones): a replica that was never reachable, the X-Consistency header, the settings.
 */

type App = Awaited<ReturnType<typeof buildApp>>
const apps: App[] = []
afterEach(async () => { await Promise.all(apps.splice(0).map((app) => app.close())) })

async function appWith (env: Record<string, string>) {
  const lines: Array<{ msg?: string, replica?: string }> = []
  const sink = new Writable({
    write (chunk: Buffer, _encoding, done) {
      for (const text of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(text))
      done()
    },
  })
  const databaseUrl = inject('databaseUrl')
  const config = loadConfig({ NODE_ENV: 'test', DATABASE_URL: databaseUrl, ...env })
  const app = await buildApp({ config, databaseUrl, logger: pino({ level: 'info' }, sink) })
  await app.ready()
  apps.push(app)
  const call = async (method: string, params: unknown, headers: Record<string, string> = {}) => {
    const response = await app.inject({
      method: 'POST',
      url: '/rpc',
      headers: { 'content-type': 'application/json', ...headers },
      payload: JSON.stringify({ jsonrpc: '2.0', method, params, id: 1 }),
    })
    return { status: response.statusCode, body: response.json() }
  }
  return { app, lines, call }
}

describe('read routing without a reachable replica', () => {
  it('when the only replica cannot be reached from the start, then reads answer from the primary, counted, logged once, and /readyz stays 200 naming it down', async () => {
    const port = await freePort()
    const { app, lines, call } = await appWith({ DATABASE_REPLICA_URLS: `postgresql://reader:secret-pw@127.0.0.1:${port}/nowhere`, DATABASE_CONNECT_TIMEOUT_MS: '500' })
    const login = `unreachable-${Math.random().toString(36).slice(2, 10)}`
    const created = await call('user.create', { login })
    expect(created.body.result).toMatchObject({ login })
    for (let read = 0; read < 3; read++) {
      expect((await call('user.getByLogin', { login })).body.result).toMatchObject({ login })
    }

    const metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body
    expect(metricValue(metrics, 'db_replica_fallbacks_total')).toBe(3)
    expect(metricValue(metrics, 'db_replica_up', { replica: `127.0.0.1:${port}` })).toBe(0)
    expect(metricValue(metrics, 'db_replica_reads_total')).toBe(0)
    const ready = await app.inject({ method: 'GET', url: '/readyz' })
    expect(ready.statusCode).toBe(200)
    expect(ready.json()).toMatchObject({ status: 'ok', replicas: [{ name: `127.0.0.1:${port}`, status: 'down', reason: expect.any(String) }] })
    expect(ready.body).not.toContain('secret-pw')
    expect(lines.filter((line) => line.msg?.startsWith('replica unavailable'))).toEqual([expect.objectContaining({ replica: `127.0.0.1:${port}` })])
  })

  it('when no replica is configured, then /readyz and /metrics say nothing of replicas', async () => {
    const { app } = await appWith({})
    expect((await app.inject({ method: 'GET', url: '/readyz' })).json()).toEqual({ status: 'ok' })
    expect((await app.inject({ method: 'GET', url: '/metrics' })).body).not.toContain('db_replica')
  })
})

describe('X-Consistency', () => {
  it('when it is strong or eventual in any case, then the call runs; any other value is HTTP 400 with a -32600 body, and nothing runs', async () => {
    const { call } = await appWith({})
    for (const value of ['strong', 'Eventual', ' STRONG ']) {
      expect((await call('user.list', { limit: 1 }, { 'x-consistency': value })).status).toBe(200)
    }
    const login = `refused-${Math.random().toString(36).slice(2, 10)}`
    const refused = await call('user.create', { login }, { 'x-consistency': 'strnog' })
    expect(refused).toEqual({
      status: 400,
      body: { jsonrpc: '2.0', id: null, error: { code: -32600, message: 'Invalid Request', data: { reason: 'X-Consistency must be strong or eventual' } } },
    })
    expect((await call('user.getByLogin', { login })).body.error).toMatchObject({ code: -32004 })
  })
})

describe('scale-out settings', () => {
  const base = { NODE_ENV: 'test', DATABASE_URL: 'postgresql://u@127.0.0.1/db' }

  it('when they are valid, then they are read: workers, replica URLs as a list, the direct URL', () => {
    const config = loadConfig({ ...base, WORKERS: '4', DIRECT_DATABASE_URL: 'postgresql://owner@127.0.0.1:5432/db', DATABASE_REPLICA_URLS: ' postgresql://r@10.0.0.2/db , postgres://r@10.0.0.3/db ' })
    expect(config).toMatchObject({
      WORKERS: 4,
      DIRECT_DATABASE_URL: 'postgresql://owner@127.0.0.1:5432/db',
      DATABASE_REPLICA_URLS: ['postgresql://r@10.0.0.2/db', 'postgres://r@10.0.0.3/db'],
      DATABASE_REPLICA_RETRY_MS: 5000,
    })
    expect(loadConfig(base)).toMatchObject({ WORKERS: 1, DATABASE_REPLICA_URLS: [] })
  })

  it('when they are not, then the configuration is refused with a line naming the variable and never a URL', () => {
    const refusal = (env: Record<string, string>) => {
      try {
        loadConfig(env)
      } catch (error) {
        expect(error).toBeInstanceOf(ConfigError)
        return (error as Error).message
      }
      return 'accepted'
    }
    expect(refusal({ NODE_ENV: 'test', DATABASE_REPLICA_URLS: 'postgresql://r@10.0.0.2/db' })).toMatch(/DATABASE_REPLICA_URLS needs DATABASE_URL/)
    const bad = refusal({ ...base, DATABASE_REPLICA_URLS: 'postgresql://r@10.0.0.2/db,mysql://r:hunter22@10.0.0.3/db' })
    expect(bad).toMatch(/DATABASE_REPLICA_URLS entry 2 is not a postgresql:\/\/ URL/)
    expect(bad).not.toContain('hunter22')
    expect(refusal({ ...base, WORKERS: '0' })).toMatch(/WORKERS/)
    expect(refusal({ ...base, DIRECT_DATABASE_URL: 'mysql://x' })).toMatch(/DIRECT_DATABASE_URL/)
  })
})
