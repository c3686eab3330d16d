#!/usr/bin/env node
// @ts-check
/**
 * Load benchmark: starts the built service (on a fresh embedded PostgreSQL, or on
 * BENCH_DATABASE_URL), drives it over loopback with autocannon, and prints throughput,
 * latency percentiles and the server's memory. Bounded: every scenario runs for
 * BENCH_SECONDS (default 10) with BENCH_CONNECTIONS (default 32) connections.
 *
 *   npm run bench            # after `npm ci`
 */
import { randomBytes } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import autocannon from 'autocannon'
import { startBuiltService } from '../scripts/built-service.js'

const seconds = Number(process.env.BENCH_SECONDS ?? 10)
const connections = Number(process.env.BENCH_CONNECTIONS ?? 32)

/** @param {number | undefined} pid */
async function rssMiB (pid) {
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  const kib = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0)
  return Math.round(kib / 1024)
}

const service = await startBuiltService({
  DATABASE_URL: process.env.BENCH_DATABASE_URL ?? '',
  MIGRATE_ON_START: 'true',
  // The benchmark is one client address; the limits would measure themselves.
  RATE_LIMIT_PER_IP: '0',
  RATE_LIMIT_PER_KEY: '0',
})
const url = service.url

/** @param {string} method @param {unknown} params */
const body = (method, params) => JSON.stringify({ jsonrpc: '2.0', method, params, id: 1 })
const headers = { 'content-type': 'application/json' }

try {
  // Rows for the read scenarios.
  /** @type {number[]} */
  const seeded = []
  for (let i = 0; i < 200; i++) {
    const response = await fetch(url, { method: 'POST', headers, body: body('user.create', { login: `seed-${randomBytes(6).toString('hex')}`, firstName: 'Seed' }) })
    const { result } = /** @type {{ result: { id: number } }} */ (await response.json())
    seeded.push(result.id)
  }
  const pick = () => seeded[Math.floor(Math.random() * seeded.length)]
  const idleRss = await rssMiB(service.pid)

  /** @type {Array<{ name: string, request: () => string }>} */
  const scenarios = [
    { name: 'user.get', request: () => body('user.get', { id: pick() }) },
    { name: 'user.create', request: () => body('user.create', { login: `b-${randomBytes(8).toString('hex')}`, firstName: 'Bench', lastName: 'User' }) },
    { name: 'user.list (limit 20)', request: () => body('user.list', { limit: 20 }) },
    { name: 'batch of 10 user.get', request: () => JSON.stringify(Array.from({ length: 10 }, (_, i) => ({ jsonrpc: '2.0', method: 'user.get', params: { id: pick() }, id: i }))) },
  ]

  console.log(`user-rpc load benchmark: ${connections} connections, ${seconds} s per scenario, Node ${process.version}, ${process.env.BENCH_DATABASE_URL ? 'external' : 'embedded'} PostgreSQL`)
  console.log('| scenario | requests/s | p50 ms | p97.5 ms | p99 ms | non-2xx | errors | server RSS MiB |')
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|')
  // Unmeasured warm-up, so the first scenario does not pay for JIT and cold caches.
  await autocannon({ url, method: 'POST', headers, connections, duration: 3, requests: [{ setupRequest: (request) => ({ ...request, body: body('user.get', { id: pick() }) }) }] })

  let peakRss = idleRss
  for (const scenario of scenarios) {
    // autocannon only sees HTTP status; a JSON-RPC error is HTTP 200, so check one call first.
    const probe = await (await fetch(url, { method: 'POST', headers, body: scenario.request() })).text()
    if (probe.includes('"error"')) throw new Error(`${scenario.name} answers with an error: ${probe}`)
    const result = await autocannon({
      url,
      method: 'POST',
      headers,
      connections,
      duration: seconds,
      requests: [{ setupRequest: (request) => ({ ...request, body: scenario.request() }) }],
    })
    const rss = await rssMiB(service.pid)
    peakRss = Math.max(peakRss, rss)
    console.log(`| ${scenario.name} | ${Math.round(result.requests.average)} | ${result.latency.p50} | ${result.latency.p97_5} | ${result.latency.p99} | ${result.non2xx} | ${result.errors + result.timeouts} | ${rss} |`)
  }
  console.log(`server RSS: ${idleRss} MiB idle after seeding, ${peakRss} MiB peak between scenarios`)
} finally {
  await service.stop()
}
