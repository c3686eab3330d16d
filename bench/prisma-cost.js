#!/usr/bin/env node
// @ts-check
/**
 * `npm run bench:prisma`: the minimal reproduction of what an interactive transaction costs
 * in Prisma, with no HTTP, no JSON-RPC and nothing of the service but its generated client.
 *
 * One process, one pg pool, one database (a fresh embedded PostgreSQL, or a fresh database
 * on BENCH_DATABASE_URL), 32 calls at a time, the same read each way:
 *   - pg itself: BEGIN; SELECT … WHERE id = $1; COMMIT (the floor's database work);
 *   - Prisma's interactive transaction with an empty callback (its transaction machinery);
 *   - Prisma's interactive transaction around `tx.user.findUnique`, as the service runs it,
 *     with Prisma's default error format and with the service's settings (errorFormat
 *     'minimal', unnamed statements: DATABASE_PREPARED_STATEMENTS' default).
 * Every path sends the same statements (log_statement = all shows BEGIN, the SELECT, COMMIT),
 * so what differs is client-side CPU, which this prints per call (this process only), with
 * the ratio to pg's, and the bytes it allocates per call (V8's sampling heap profiler, garbage
 * included). Paths take turns over several rounds; the best round counts. Then it profiles the
 * service's path and prints where the time goes: self time by package, then bottom-up by function.
 *
 *   npm run bench:prisma      # after npm ci; BENCH_CALLS (default 10000), BENCH_ROUNDS (3)
 *   BENCH_PATHS=pg,service    # only the paths whose names contain one of these words
 *   BENCH_PROFILE=0           # no profile (for quick A/B runs); BENCH_PROFILE_OUT=file.cpuprofile keeps it
 */
import { Session } from 'node:inspector/promises'
import { rm, writeFile } from 'node:fs/promises'
import { PrismaPg } from '@prisma/adapter-pg'
import pg from 'pg'
import { PrismaClient } from '../dist/generated/prisma/client.js'
import { provisionDatabase } from './database.js'
import { seedUsers } from './seed.js'
import { reachableTempFolder } from '../scripts/postgres-topology.js'

const CONCURRENCY = 32
const calls = Number(process.env.BENCH_CALLS ?? 10_000)
const rounds = Number(process.env.BENCH_ROUNDS ?? 3)
const pathWords = (process.env.BENCH_PATHS ?? '').split(',').map((word) => word.trim()).filter(Boolean)
const profiling = process.env.BENCH_PROFILE !== '0'

const workDir = await reachableTempFolder('prisma-cost')
const database = await provisionDatabase({ externalUrl: process.env.BENCH_DATABASE_URL, workDir, log: () => {} })
const pool = new pg.Pool({ connectionString: database.url, max: 10 })
/** @type {PrismaClient[]} */
const clients = []

try {
  const ids = await seedUsers(database.url, 100)
  const idAt = (/** @type {number} */ i) => /** @type {number} */ (ids[i % ids.length])
  const prismaWith = (/** @type {Record<string, unknown>} */ options) => {
    const client = new PrismaClient(/** @type {any} */ (options))
    clients.push(client)
    return client
  }
  const prismaDefault = prismaWith({ adapter: new PrismaPg(pool), errorFormat: 'colorless' })
  const prismaService = prismaWith({ adapter: new PrismaPg(pool), errorFormat: 'minimal' })

  /** @type {Record<string, (i: number) => Promise<unknown>>} */
  const allPaths = {
    'pg: BEGIN; SELECT; COMMIT': async (i) => {
      const client = await pool.connect()
      try {
        await client.query('BEGIN')
        const { rows } = await client.query('SELECT * FROM users WHERE id = $1', [idAt(i)])
        await client.query('COMMIT')
        return rows[0]
      } finally {
        client.release()
      }
    },
    'pg: BEGIN; COMMIT': async () => {
      const client = await pool.connect()
      try {
        await client.query('BEGIN')
        await client.query('COMMIT')
        return true
      } finally {
        client.release()
      }
    },
    'prisma: $transaction(async () => true)': () => prismaService.$transaction(async () => true),
    'prisma: findUnique in $transaction, default errorFormat': (i) =>
      prismaDefault.$transaction((tx) => tx.user.findUnique({ where: { id: idAt(i) } })),
    'prisma: findUnique in $transaction, as the service runs it': (i) =>
      prismaService.$transaction((tx) => tx.user.findUnique({ where: { id: idAt(i) } })),
  }
  const paths = Object.fromEntries(Object.entries(allPaths).filter(([name]) => pathWords.length === 0 || pathWords.some((word) => name.includes(word))))

  /** @type {Map<string, { perSecond: number, cpuUs: number, kbPerCall?: number }>} */
  const best = new Map()
  for (let round = 0; round < rounds; round++) {
    for (const [name, path] of Object.entries(paths)) {
      await measure(path, Math.min(2000, calls)) // warm-up: JIT, plan cache, connections
      const result = await measure(path, calls)
      const previous = best.get(name)
      if (!previous || result.cpuUs < previous.cpuUs) best.set(name, { ...result, kbPerCall: previous?.kbPerCall })
    }
  }
  for (const [name, path] of Object.entries(paths)) {
    const result = best.get(name)
    if (result) result.kbPerCall = await allocatedPerCall(() => measure(path, Math.min(5000, calls))) / Math.min(5000, calls) / 1024
  }

  const pgCost = best.get('pg: BEGIN; SELECT; COMMIT')?.cpuUs ?? Number.NaN
  console.log(`Prisma interactive transactions against pg: Node ${process.version}, PostgreSQL ${database.version} (${database.kind}), ${calls} calls ${CONCURRENCY} at a time, pool 10, best of ${rounds} rounds`)
  console.log('')
  console.log('| path | calls/s | CPU µs per call | × pg | KB allocated per call |')
  console.log('|---|---:|---:|---:|---:|')
  for (const [name, result] of best) {
    console.log(`| ${name} | ${Math.round(result.perSecond)} | ${Math.round(result.cpuUs)} | ${(result.cpuUs / pgCost).toFixed(2)} | ${result.kbPerCall?.toFixed(1)} |`)
  }

  const servicePath = paths['prisma: findUnique in $transaction, as the service runs it']
  if (profiling && servicePath) {
    const profile = await profiled(() => measure(servicePath, calls))
    if (process.env.BENCH_PROFILE_OUT) await writeFile(process.env.BENCH_PROFILE_OUT, JSON.stringify(profile))
    console.log('')
    console.log(`Where the service's path spends its time (CPU profile, ${calls} calls, share of samples by package):`)
    console.log('')
    console.log('| where | share |')
    console.log('|---|---:|')
    for (const [where, share] of bySource(profile)) console.log(`| ${where} | ${(share * 100).toFixed(1)}% |`)
    console.log('')
    console.log('Bottom-up, self time by function (the top 25):')
    console.log('')
    console.log('| function | where | share |')
    console.log('|---|---|---:|')
    for (const [name, where, share] of byFunction(profile).slice(0, 25)) console.log(`| ${name} | ${where} | ${(share * 100).toFixed(1)}% |`)
  }
} finally {
  for (const client of clients) await client.$disconnect()
  await pool.end()
  await database.stop()
  await rm(workDir, { recursive: true, force: true })
}

/**
 * Runs `calls` calls, CONCURRENCY at a time; returns calls/s and this process's CPU per call.
 * @param {(i: number) => Promise<unknown>} path @param {number} count
 */
async function measure (path, count) {
  let next = 0
  const cpuBefore = process.cpuUsage()
  const started = performance.now()
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < count) {
      const i = next++
      if (!await path(i)) throw new Error(`call ${i} returned nothing`)
    }
  }))
  const cpu = process.cpuUsage(cpuBefore)
  return { perSecond: count / ((performance.now() - started) / 1000), cpuUs: (cpu.user + cpu.system) / count }
}

/**
 * The V8 CPU profile of `work`, taken in this process.
 * @param {() => Promise<unknown>} work
 */
async function profiled (work) {
  const session = new Session()
  session.connect()
  try {
    await session.post('Profiler.enable')
    await session.post('Profiler.start')
    await work()
    const { profile } = await session.post('Profiler.stop')
    return profile
  } finally {
    session.disconnect()
  }
}

/**
 * Bytes `work` allocates, garbage included: V8's sampling heap profiler keeps the samples of
 * objects that minor and major GCs collected, so the total estimates everything allocated.
 * @param {() => Promise<unknown>} work
 */
async function allocatedPerCall (work) {
  const session = new Session()
  session.connect()
  try {
    await session.post('HeapProfiler.enable')
    await session.post('HeapProfiler.startSampling', { samplingInterval: 1024, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true })
    await work()
    const { profile } = await session.post('HeapProfiler.stopSampling')
    /** @param {import('node:inspector').HeapProfiler.SamplingHeapProfileNode} node @returns {number} */
    const total = (node) => node.children.reduce((sum, child) => sum + total(child), node.selfSize)
    return total(profile.head)
  } finally {
    session.disconnect()
  }
}

/**
 * Each profile node that was sampled, with its share of the samples (its self time).
 * @param {import('node:inspector').Profiler.Profile} profile
 * @returns {Array<[import('node:inspector').Profiler.ProfileNode, number]>}
 */
function selfShares (profile) {
  /** @type {Map<number, number>} */
  const samplesOf = new Map()
  for (const id of profile.samples ?? []) samplesOf.set(id, (samplesOf.get(id) ?? 0) + 1)
  const total = profile.samples?.length ?? 1
  return profile.nodes.filter((node) => samplesOf.has(node.id)).map((node) => [node, (samplesOf.get(node.id) ?? 0) / total])
}

/**
 * Self time by function (name, file:line, package), largest first.
 * @param {import('node:inspector').Profiler.Profile} profile
 * @returns {Array<[string, string, number]>}
 */
function byFunction (profile) {
  /** @type {Map<string, [string, string, number]>} */
  const rows = new Map()
  for (const [node, share] of selfShares(profile)) {
    const { functionName, url, lineNumber, columnNumber } = node.callFrame
    const key = `${functionName}@${url}:${lineNumber}:${columnNumber}`
    const row = rows.get(key) ?? [functionName || '(anonymous)', `${sourceOf(node.callFrame)}${url ? ` ${url.split('/').at(-1)}:${lineNumber + 1}` : ''}`, 0]
    row[2] += share
    rows.set(key, row)
  }
  return [...rows.values()].sort((a, b) => b[2] - a[2])
}

/**
 * Share of the profile's samples by where the function lives: a package under node_modules,
 * Node's own code, or V8's buckets (garbage collector, idle, native calls such as writes).
 * @param {import('node:inspector').Profiler.Profile} profile
 * @returns {Array<[string, number]>}
 */
function bySource (profile) {
  /** @type {Map<string, number>} */
  const shares = new Map()
  for (const [node, share] of selfShares(profile)) {
    const where = sourceOf(node.callFrame)
    shares.set(where, (shares.get(where) ?? 0) + share)
  }
  return [...shares].sort((a, b) => b[1] - a[1]).filter(([, share]) => share >= 0.005)
}

/** @param {import('node:inspector').Runtime.CallFrame} frame */
function sourceOf ({ url, functionName }) {
  if (!url) return functionName.startsWith('(') ? functionName : `native: ${functionName}`
  if (url.startsWith('node:')) return 'Node.js core'
  const inModules = url.split('node_modules/').at(-1) ?? url
  if (inModules === url) return 'this script'
  const [scope, name] = inModules.split('/')
  return scope?.startsWith('@') ? `${scope}/${name}` : `${scope}`
}
