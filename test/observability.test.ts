import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildTestApp, call, type App } from './helpers.js'

let app: App
beforeAll(async () => { app = await buildTestApp({ METRICS_TOKEN: 'scrape-token-123' }) })
afterAll(async () => { await app.close() })

const scrape = async (target: App, token = 'scrape-token-123') =>
  await target.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${token}` } })

const sample = (text: string, line: RegExp) => {
  const found = text.split('\n').find((row) => line.test(row))
  return found ? Number(found.split(' ').at(-1)) : 0
}

describe('/metrics', () => {
  it('when a call is made, then its method and outcome are counted and its latency observed', async () => {
    const before = (await scrape(app)).body
    await call(app, 'user.get', { id: 2147483600 })
    const after = (await scrape(app)).body
    const notFound = /^rpc_calls_total\{method="user.get",outcome="-32004",transport="jsonrpc"\}/
    expect(sample(after, notFound) - sample(before, notFound)).toBe(1)
    const latencyCount = /^rpc_call_duration_seconds_count\{method="user.get",transport="jsonrpc"\}/
    expect(sample(after, latencyCount) - sample(before, latencyCount)).toBe(1)
  })

  it('when scraped, then pool gauges, retry counter and process metrics are present', async () => {
    const { statusCode, headers, body } = await scrape(app)
    expect(statusCode).toBe(200)
    expect(headers['content-type']).toMatch(/^text\/plain/)
    for (const state of ['total', 'idle', 'waiting']) expect(body).toMatch(new RegExp(`^db_pool_connections\\{state="${state}"\\} \\d+`, 'm'))
    expect(body).toContain('# TYPE rpc_transaction_retries_total counter')
    expect(body).toMatch(/^process_resident_memory_bytes \d+/m)
  })

  it('when an unknown method is called, then it is counted under one label, not its name', async () => {
    await call(app, 'made.up.method.4711')
    const { body } = await scrape(app)
    expect(body).not.toContain('made.up.method.4711')
    expect(body).toMatch(/^rpc_calls_total\{method="unknown",outcome="-32601",transport="jsonrpc"\} \d+/m)
  })

  it('when the token is wrong or missing, then 401', async () => {
    expect((await scrape(app, 'nope')).statusCode).toBe(401)
    expect((await app.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(401)
  })
})

describe('request ids', () => {
  it('when X-Request-Id is given, then it comes back; when it is unsafe or absent, then a fresh one does', async () => {
    const send = (headers: Record<string, string>) => app.inject({ method: 'GET', url: '/healthz', headers })
    expect((await send({ 'x-request-id': 'abc-123' })).headers['x-request-id']).toBe('abc-123')
    const replaced = (await send({ 'x-request-id': 'bad id\twith\ttabs' })).headers['x-request-id']
    expect(replaced).toMatch(/^[0-9a-f-]{36}$/)
    expect((await send({})).headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/)
  })
})

describe('/healthz and /readyz', () => {
  it('when the database answers and is migrated, then both are 200', async () => {
    expect((await app.inject({ method: 'GET', url: '/healthz' })).json()).toEqual({ status: 'ok' })
    expect((await app.inject({ method: 'GET', url: '/readyz' })).json()).toEqual({ status: 'ok' })
  })
})
