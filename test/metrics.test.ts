import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildTestApp, call, readMetric, type TestApp } from './support/clients.js'

/**
 * docs/operations.md, Metrics. The retry counter is read where retries happen, in
 * transactions.test.ts, and the transport label in xmlrpc.test.ts.
 */

const TOKEN = 'scrape-token-123'

let app: TestApp
beforeAll(async () => { app = await buildTestApp({ METRICS_TOKEN: TOKEN }) })
afterAll(async () => { await app.close() })

const scrape = async (token = TOKEN) => await app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${token}` } })

describe('/metrics', () => {
  it('when a call is made, then its method and outcome are counted and its latency observed', async () => {
    const calls = 'rpc_calls_total{method="user.get",outcome="-32004",transport="jsonrpc"}'
    const latency = 'rpc_call_duration_seconds_count{method="user.get",transport="jsonrpc"}'
    const before = { calls: await readMetric(app, calls, TOKEN), latency: await readMetric(app, latency, TOKEN) }
    await call(app, 'user.get', { id: 2147483600 })
    expect(await readMetric(app, calls, TOKEN) - before.calls).toBe(1)
    expect(await readMetric(app, latency, TOKEN) - before.latency).toBe(1)
  })

  it('when scraped, then the pool gauges and the process metrics are there, as Prometheus text', async () => {
    const { statusCode, headers, body } = await scrape()
    expect(statusCode).toBe(200)
    expect(headers['content-type']).toMatch(/^text\/plain/)
    for (const state of ['total', 'idle', 'waiting']) expect(body).toMatch(new RegExp(`^db_pool_connections\\{state="${state}"\\} \\d+`, 'm'))
    expect(await readMetric(app, 'db_pool_connections{state="total"}', TOKEN)).toBe(app.dbPool.totalCount)
    expect(body).toMatch(/^process_resident_memory_bytes \d+/m)
  })

  it('when an unknown method is called, then it is counted under one label, not its name', async () => {
    const unknown = 'rpc_calls_total{method="unknown",outcome="-32601",transport="jsonrpc"}'
    const before = await readMetric(app, unknown, TOKEN)
    await call(app, 'made.up.method.4711')
    expect((await scrape()).body).not.toContain('made.up.method.4711')
    expect(await readMetric(app, unknown, TOKEN) - before).toBe(1)
  })

  it('when the token is wrong or missing, then 401', async () => {
    expect((await scrape('nope')).statusCode).toBe(401)
    expect((await app.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(401)
  })
})
