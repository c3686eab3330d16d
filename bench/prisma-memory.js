#!/usr/bin/env node
// @ts-check
/**
 * `npm run bench:memory`: where a Prisma process's resident memory goes under 128 concurrent
 * interactive transactions, the service's path (`tx.user.findUnique`, unnamed statements,
 * errorFormat 'minimal', a pool of 10), with nothing of HTTP or JSON-RPC.
 *
 * It runs the load once in a child per lever (Node/V8 flags), sides in turn, and prints per
 * lever: peak RSS, and at the end of the load RSS split by kind of mapping (/proc/self/smaps:
 * anonymous memory, which holds V8's heap and Prisma's query compiler, malloc's main arena,
 * code and data mapped from files), V8's committed and used heap, memory outside it
 * (`external`: buffers, the compiler's module), and the time and count of garbage collections
 * per 1,000 calls.
 *
 *   npm run bench:memory     # BENCH_CALLS (default 20000), BENCH_CONCURRENCY (128), BENCH_MEMORY_ROUNDS (2), BENCH_DATABASE_URL
 *   BENCH_MEMORY_LEVERS='--max-semi-space-size=1;--max-semi-space-size=16'   # flag sets, ';'-separated
 *
 * Then, with default flags, where the memory comes from stage by stage (node and pg alone, the
 * Prisma client imported, its query compiler loaded by the first query, the load, a full GC
 * after it: V8's heap by space, and what is resident outside it), and a heap snapshot taken
 * after them, summed by kind of object, with its largest strings.
 */
import { execFile } from 'node:child_process'
import { readFile, rm } from 'node:fs/promises'
import { PerformanceObserver } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { reachableTempFolder } from '../scripts/postgres-topology.js'

const calls = Number(process.env.BENCH_CALLS ?? 20_000)
const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 128)
const mib = (/** @type {number | undefined} */ bytes) => (bytes ?? 0) / 1024 / 1024

if (process.env.PRISMA_MEMORY_CHILD_URL && process.env.PRISMA_MEMORY_STAGES) {
  console.log(JSON.stringify(await measureStages(process.env.PRISMA_MEMORY_CHILD_URL)))
} else if (process.env.PRISMA_MEMORY_CHILD_URL) {
  console.log(JSON.stringify(await measureHere(process.env.PRISMA_MEMORY_CHILD_URL)))
} else {
  await compareLevers()
}

async function compareLevers () {
  const { provisionDatabase } = await import('./database.js')
  const { seedUsers } = await import('./seed.js')
  const levers = ['', ...(process.env.BENCH_MEMORY_LEVERS ?? '--max-semi-space-size=1;--max-semi-space-size=16').split(';').map((text) => text.trim()).filter(Boolean)]
  const workDir = await reachableTempFolder('prisma-memory')
  const database = await provisionDatabase({ externalUrl: process.env.BENCH_DATABASE_URL, workDir, log: () => {} })
  try {
    await seedUsers(database.url, 100)
    /** @type {Map<string, Record<string, number>[]>} */
    const results = new Map()
    const rounds = Number(process.env.BENCH_MEMORY_ROUNDS ?? 2)
    for (let round = 0; round < rounds; round++) {
      for (const lever of levers) {
        const result = await runChild(lever.split(/\s+/).filter(Boolean), { PRISMA_MEMORY_CHILD_URL: database.url })
        console.error(`bench:memory: ${lever || '(defaults)'}: ${JSON.stringify(result)}`)
        results.set(lever, [...(results.get(lever) ?? []), result])
      }
    }
    console.log(`Prisma's memory under ${concurrency} concurrent interactive transactions: Node ${process.version}, ${calls} calls of tx.user.findUnique, pool 10, PostgreSQL ${database.version}; MiB, mean of ${rounds} run(s) per lever, levers in turn`)
    console.log('')
    const columns = ['peakRss', 'rss', 'anonymous', 'malloc', 'files', 'heapCommitted', 'heapUsed', 'external', 'gcMsPer1000', 'gcsPer1000']
    printTable(['Node/V8 flags', ...columns], [...results].map(([lever, runs]) => {
      const mean = (/** @type {string} */ key) => runs.reduce((sum, run) => sum + (run[key] ?? 0), 0) / runs.length
      return [lever || '(defaults)', ...columns.map((key) => mean(key).toFixed(1))]
    }))
    await printStages(database.url)
  } finally {
    await database.stop()
    await rm(workDir, { recursive: true, force: true })
  }
}

/**
 * Runs the stage-by-stage child (default flags, `--expose-gc` so each stage is measured after
 * a full collection) and prints its two tables.
 * @param {string} url
 */
async function printStages (url) {
  /** @type {{ stages: Array<Record<string, string | number>>, snapshot: { byKind: Array<[string, number]>, largestStrings: Array<[string, number]> } }} */
  const { stages, snapshot } = await runChild(['--expose-gc'], { PRISMA_MEMORY_CHILD_URL: url, PRISMA_MEMORY_STAGES: '1' })
  const columns = ['rss', 'anonymous', 'files', 'heapCommitted', 'heapUsed', 'newSpace', 'oldSpace', 'codeSpace', 'largeObjects', 'external', 'anonymousOutsideHeap']
  console.log('')
  console.log('Stage by stage, default flags (MiB; each stage after a full GC except the load\'s own row, whose peak RSS is in its name):')
  console.log('')
  printTable(['stage', ...columns], stages.map((stage) => [String(stage.stage), ...columns.map((key) => Number(stage[key]).toFixed(1))]))
  console.log('')
  console.log('Heap snapshot after the load and the full GC (self size of live objects, MiB):')
  console.log('')
  printTable(['kind', 'MiB'], snapshot.byKind.map(([kind, bytes]) => [kind, mib(bytes).toFixed(2)]))
  console.log('')
  console.log('Its largest strings:')
  console.log('')
  printTable(['MiB', 'begins with'], snapshot.largestStrings.map(([text, bytes]) => [mib(bytes).toFixed(2), `\`${text.replaceAll('|', '\\|').replaceAll('`', "'")}\``]), '|---:|---|')
}

/**
 * A markdown table: the first column's text, the rest numbers (right-aligned), unless
 * `divider` says otherwise.
 * @param {string[]} headers @param {string[][]} rows @param {string} [divider]
 */
function printTable (headers, rows, divider = `|---|${headers.slice(1).map(() => '---:').join('|')}|`) {
  console.log(`| ${headers.join(' | ')} |`)
  console.log(divider)
  for (const row of rows) console.log(`| ${row.join(' | ')} |`)
}

/**
 * This script again in a child with `flags` and `env` on top of ours; what the child's last
 * line says (JSON).
 * @param {string[]} flags @param {Record<string, string>} env
 */
async function runChild (flags, env) {
  const { stdout } = await promisify(execFile)(process.execPath, [...flags, fileURLToPath(import.meta.url)], {
    env: { ...process.env, ...env },
    maxBuffer: 1 << 20,
  })
  return JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}')
}

/** Samples this process's RSS every 50 ms; the returned function stops and gives the peak. */
function watchPeakRss () {
  let peak = 0
  const sample = () => { peak = Math.max(peak, process.memoryUsage.rss()) }
  const timer = setInterval(sample, 50)
  return () => {
    clearInterval(timer)
    sample()
    return peak
  }
}

/**
 * One child's stages: what node and pg hold, then the Prisma client imported, its query
 * compiler loaded by a first query, the load, and a full GC after it.
 * @param {string} url
 */
async function measureStages (url) {
  const gc = /** @type {() => void} */ (globalThis.gc)
  const { default: pg } = await import('pg')
  const pool = new pg.Pool({ connectionString: url, max: 10 })
  const ids = (await pool.query('SELECT id FROM users ORDER BY id LIMIT 100')).rows.map((row) => row.id)
  /** @type {Array<Record<string, string | number>>} */
  const stages = []
  const stage = async (/** @type {string} */ name, collect = true) => {
    if (collect) gc()
    stages.push({ stage: name, ...await heapAndResident() })
  }
  await stage('node and pg')
  const { PrismaPg } = await import('@prisma/adapter-pg')
  const { PrismaClient } = await import('../dist/generated/prisma/client.js')
  await stage('+ the Prisma client imported')
  const prisma = new PrismaClient({ adapter: new PrismaPg(pool), errorFormat: 'minimal' })
  try {
    await prisma.$transaction((tx) => tx.user.findUnique({ where: { id: ids[0] } }))
    await stage('+ a first query (the query compiler loaded)')
    const peakRss = watchPeakRss()
    await load(prisma, ids)
    await stage(`+ ${calls} calls, ${concurrency} at a time (peak RSS ${mib(peakRss()).toFixed(1)})`, false)
    await stage('+ a full GC after the load')
    // Last: the snapshot's own text and parsing would be counted by any stage after it.
    return { stages, snapshot: await heapSnapshotSummary() }
  } finally {
    await prisma.$disconnect()
    await pool.end()
  }
}

/** V8's heap by space, and the resident memory around it, in MiB. */
async function heapAndResident () {
  const { getHeapStatistics, getHeapSpaceStatistics } = await import('node:v8')
  const heap = getHeapStatistics()
  const spaces = Object.fromEntries(getHeapSpaceStatistics().map((space) => [space.space_name, space.space_size]))
  const split = await residentByKind()
  return {
    rss: mib(process.memoryUsage.rss()),
    anonymous: mib(split.anonymous + split.malloc),
    files: mib(split.files),
    heapCommitted: mib(heap.total_heap_size),
    heapUsed: mib(heap.used_heap_size),
    newSpace: mib(spaces.new_space),
    oldSpace: mib(spaces.old_space),
    codeSpace: mib(spaces.code_space),
    largeObjects: mib(spaces.large_object_space),
    external: mib(heap.external_memory),
    // What is resident and anonymous but not V8's heap: the query compiler's WebAssembly code
    // and memory, buffers, malloc's arenas.
    anonymousOutsideHeap: mib(split.anonymous + split.malloc - heap.total_heap_size),
  }
}

/**
 * A heap snapshot of this process, summed by kind of object (V8's node types), and the five
 * largest strings with their first characters.
 */
async function heapSnapshotSummary () {
  const { Session } = await import('node:inspector/promises')
  const session = new Session()
  session.connect()
  /** @type {string[]} */
  const chunks = []
  session.on('HeapProfiler.addHeapSnapshotChunk', (message) => { chunks.push(message.params.chunk) })
  try {
    await session.post('HeapProfiler.takeHeapSnapshot', { reportProgress: false })
  } finally {
    session.disconnect()
  }
  /** @type {{ snapshot: { meta: { node_fields: string[], node_types: [string[]] } }, nodes: number[], strings: string[] }} */
  const snapshot = JSON.parse(chunks.join(''))
  const fields = snapshot.snapshot.meta.node_fields
  const kinds = snapshot.snapshot.meta.node_types[0]
  const [typeAt, nameAt, sizeAt] = ['type', 'name', 'self_size'].map((field) => fields.indexOf(field))
  /** @type {Map<string, number>} */
  const byKind = new Map()
  /** @type {Array<[string, number]>} */
  const strings = []
  for (let i = 0; i < snapshot.nodes.length; i += fields.length) {
    const kind = kinds[snapshot.nodes[i + Number(typeAt)] ?? 0] ?? '?'
    const size = snapshot.nodes[i + Number(sizeAt)] ?? 0
    byKind.set(kind, (byKind.get(kind) ?? 0) + size)
    if (kind === 'string' && size > 100_000) strings.push([(snapshot.strings[snapshot.nodes[i + Number(nameAt)] ?? 0] ?? '').slice(0, 40).replaceAll('\n', ' '), size])
  }
  return {
    byKind: [...byKind].sort((a, b) => b[1] - a[1]).filter(([, bytes]) => bytes >= 10_000),
    largestStrings: strings.sort((a, b) => b[1] - a[1]).slice(0, 5),
  }
}

/**
 * `calls` interactive reads, `concurrency` at a time.
 * @param {{ $transaction: Function }} prisma @param {number[]} ids
 */
async function load (prisma, ids) {
  let next = 0
  const run = async () => {
    while (next < calls) {
      const i = next++
      const id = ids[i % ids.length]
      // Bounds far above any wait: 128 callers share 10 connections; this measures memory, not waits.
      if (!await prisma.$transaction((/** @type {any} */ tx) => tx.user.findUnique({ where: { id } }), { timeout: 60_000, maxWait: 60_000 })) throw new Error(`no user ${id}`)
    }
  }
  await Promise.all(Array.from({ length: concurrency }, run))
}

/**
 * The load in this process; memory figures in MiB.
 * @param {string} url
 */
async function measureHere (url) {
  const { PrismaPg } = await import('@prisma/adapter-pg')
  const { default: pg } = await import('pg')
  const { PrismaClient } = await import('../dist/generated/prisma/client.js')
  const pool = new pg.Pool({ connectionString: url, max: 10 })
  const prisma = new PrismaClient({ adapter: new PrismaPg(pool), errorFormat: 'minimal' })
  const ids = (await pool.query('SELECT id FROM users ORDER BY id LIMIT 100')).rows.map((row) => row.id)
  let gcMs = 0
  let gcs = 0
  const gcObserver = new PerformanceObserver((list) => { for (const entry of list.getEntries()) { gcMs += entry.duration; gcs++ } })
  const peakRss = watchPeakRss()
  try {
    await load(prisma, ids) // warm-up: JIT, the compiler's caches, connections
    gcObserver.observe({ entryTypes: ['gc'] })
    await load(prisma, ids)
    const peak = peakRss()
    const memory = process.memoryUsage()
    const split = await residentByKind()
    return {
      peakRss: mib(peak),
      rss: mib(memory.rss),
      ...Object.fromEntries(Object.entries(split).map(([kind, bytes]) => [kind, mib(bytes)])),
      heapCommitted: mib(memory.heapTotal),
      heapUsed: mib(memory.heapUsed),
      external: mib(memory.external),
      gcMsPer1000: gcMs / calls * 1000,
      gcsPer1000: gcs / calls * 1000,
    }
  } finally {
    peakRss()
    gcObserver.disconnect()
    await prisma.$disconnect()
    await pool.end()
  }
}

/**
 * Resident bytes by kind of mapping, from /proc/self/smaps: `[heap]` is malloc's main arena;
 * other anonymous mappings hold V8's heap and code space, the query compiler's WebAssembly
 * memory (V8 maps its accessible part apart from its guard reservation, so it cannot be told
 * from the rest here), malloc's other arenas and buffers; the rest is code and data mapped from
 * files (node itself, shared libraries).
 */
async function residentByKind () {
  const text = await readFile('/proc/self/smaps', 'utf8')
  const split = { anonymous: 0, malloc: 0, files: 0 }
  let kind = /** @type {keyof typeof split} */ ('anonymous')
  for (const line of text.split('\n')) {
    const mapping = /^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+\s*(.*)$/.exec(line)
    if (mapping) {
      const name = mapping[3] ?? ''
      kind = name === '[heap]' ? 'malloc' : name.startsWith('/') ? 'files' : 'anonymous'
      continue
    }
    const rss = /^Rss:\s+(\d+) kB$/.exec(line)
    if (rss) split[kind] += Number(rss[1]) * 1024
  }
  return split
}
