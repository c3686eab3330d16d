#!/usr/bin/env node
// @ts-check
/**
 * `npm run soak`: minutes of mixed load at a fixed concurrency against the built service, to
 * see that nothing grows or leaks. Not part of `npm test`.
 *
 * Starts a fresh PostgreSQL (embedded, or a database on SOAK_DATABASE_URL) seeded with 1,000
 * users and the built service at its defaults (bench/targets.js, its log in bench/results/),
 * then runs SOAK_CONCURRENCY closed loops over raw keep-alive connections (bench's
 * HttpConnection), each request drawn from bench/workloads.js: 50% user.get, 15%
 * user.create, 15% user.update, 10% user.list, 10% a batch of 10 user.get. Every answer is
 * checked; a wrong one or any JSON-RPC error is an unexpected error (nothing in this mix
 * should fail).
 *
 * A live progress line goes to stderr. At the end of each minute it samples the service:
 * resident memory and open file descriptors (/proc), event-loop delay and the pool's
 * connections (its /metrics), and the database's connections from the service
 * (pg_stat_activity). It prints one table row per minute and a verdict, keeps the figures
 * (JSON, markdown) and a chart (SVG) in bench/results/, and with SOAK_WRITE_DOCS=1 writes
 * the chart and the table to docs/ for docs/reliability.md. Exit 0 when the verdict is PASS.
 */
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { cpus, totalmem } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createCleanup } from './cleanup.js'
import { provisionDatabase, withClient } from './database.js'
import { HttpConnection } from './http-connection.js'
import { percentiles } from './percentiles.js'
import { openServerLog } from './results.js'
import { seedUsers } from './seed.js'
import { renderSoakChart } from './soak-chart.js'
import { targets } from './targets.js'
import { workloads } from './workloads.js'
import { reachableTempFolder } from '../scripts/postgres-topology.js'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')

/** The mix: a workload of bench/workloads.js and its share of requests. */
const MIX = [
  ['user.get', 0.5],
  ['user.create', 0.15],
  ['user.update', 0.15],
  ['user.list', 0.1],
  ['batch10', 0.1],
]

/** Memory and connections are judged against minute 2: minute 1 is the warm-up. */
const BASELINE_MINUTE = 2
const FLAT_TOLERANCE = 0.10

const settings = {
  minutes: positive('SOAK_MINUTES', 15),
  concurrency: positive('SOAK_CONCURRENCY', 32),
  seedUsers: positive('SOAK_SEED_USERS', 1000),
  databaseUrl: process.env.SOAK_DATABASE_URL?.trim() || undefined,
  writeDocs: process.env.SOAK_WRITE_DOCS === '1',
}

/** @param {string} name @param {number} fallback */
function positive (name, fallback) {
  const text = process.env[name]?.trim()
  if (!text) return fallback
  const value = Number(text)
  if (!Number.isInteger(value) || value < 1) {
    process.stderr.write(`soak: ${name}=${text}: expected a whole number of at least 1\n`)
    process.exit(1)
  }
  return value
}

const progress = (/** @type {string} */ line) => process.stderr.write(`soak: ${line}\n`)
const cleanup = createCleanup()
for (const signal of /** @type {const} */ (['SIGINT', 'SIGTERM'])) {
  process.once(signal, () => {
    progress(`${signal}: stopping everything`)
    cleanup.run().finally(() => process.exit(130))
  })
}

/**
 * @typedef {object} Minute
 * @property {number} minute
 * @property {number} requests
 * @property {number} calls              a batch of 10 is 10 calls
 * @property {number} callsPerSecond
 * @property {Record<string, number>} errors   by JSON-RPC code, or `wrong`, `http`, `connection`
 * @property {number} p50Ms
 * @property {number} p99Ms
 * @property {number} rssMiB
 * @property {number} fds
 * @property {number} loopP99Ms          event-loop delay over the minute (prom-client)
 * @property {number} loopMaxMs
 * @property {number} poolConnections    db_pool_connections{state="total"}
 * @property {number} dbConnections      the service's sessions in pg_stat_activity
 */

async function main () {
  const started = new Date()
  const stamp = started.toISOString().replace(/[:.]/g, '-')
  const workDir = await reachableTempFolder('soak')
  cleanup.add('the temporary folder', () => rm(workDir, { recursive: true, force: true }))

  progress(settings.databaseUrl ? 'creating a database on SOAK_DATABASE_URL' : 'starting an embedded PostgreSQL')
  const database = await provisionDatabase({ externalUrl: settings.databaseUrl, workDir, log: progress })
  cleanup.add('the database', database.stop)
  const ids = await seedUsers(database.url, settings.seedUsers)

  const log = await openServerLog(stamp, 'soak-service')
  cleanup.add('the service log', log.close)
  const serviceTarget = targets.find((target) => target.name === 'service')
  if (!serviceTarget) throw new Error('no service target in bench/targets.js')
  progress(`starting the service (its output goes to ${log.path})`)
  const service = await serviceTarget.start({ databaseUrl: database.url, output: log.fd, serviceEnv: {}, serviceNodeArgs: [], leverEnv: {}, leverNodeArgs: [], baselineEnv: {}, replicaUrl: undefined })
  cleanup.add('the service', service.stop)
  const pid = /** @type {number} */ (service.pids[0])
  const port = /** @type {number} */ (service.ports[0])

  progress(`${settings.concurrency} clients for ${settings.minutes} minutes; Ctrl-C stops early`)
  const load = startLoad({ port, ids, loginPrefix: `soak${Date.now().toString(36)}` })
  cleanup.add('the load', load.stop)

  /** @type {Minute[]} */
  const minutes = []
  const soakStart = performance.now()
  const ticker = setInterval(() => showProgress(load, minutes, soakStart), 1000)
  cleanup.add('the progress line', async () => clearInterval(ticker))
  // Throw away the event-loop histogram gathered during start-up and seeding.
  await scrape(port)
  for (let minute = 1; minute <= settings.minutes; minute++) {
    const end = soakStart + minute * 60_000
    while (performance.now() < end) await sleep(Math.min(1000, end - performance.now()))
    const window = load.takeWindow()
    const metrics = await scrape(port)
    const latencies = percentiles([Float64Array.from(window.latencies)])
    minutes.push({
      minute,
      requests: window.requests,
      calls: window.calls,
      callsPerSecond: window.calls / 60,
      errors: window.errors,
      p50Ms: latencies.p50,
      p99Ms: latencies.p99,
      rssMiB: await residentMiB(pid),
      fds: await openFds(pid),
      loopP99Ms: (metrics.get('nodejs_eventloop_lag_p99_seconds') ?? NaN) * 1000,
      loopMaxMs: (metrics.get('nodejs_eventloop_lag_max_seconds') ?? NaN) * 1000,
      poolConnections: metrics.get('db_pool_connections{state="total"}') ?? NaN,
      dbConnections: await serviceSessions(database.url),
    })
    if (process.stderr.isTTY) process.stderr.write('\n')
    progress(formatRow(/** @type {Minute} */ (minutes.at(-1))))
  }
  clearInterval(ticker)
  await load.stop()

  const verdict = judge(minutes)
  const meta = {
    date: started.toISOString(),
    machine: { cpus: cpus().length, model: cpus()[0]?.model ?? 'unknown', memoryGiB: Math.round(totalmem() / 2 ** 30) },
    node: process.version,
    postgres: { version: database.version, kind: database.kind },
    concurrency: settings.concurrency,
    minutes: settings.minutes,
    seedUsers: settings.seedUsers,
    mix: MIX.map(([name, share]) => `${Math.round(Number(share) * 100)}% ${name}`).join(', '),
  }
  const table = formatTable(minutes)
  const report = [
    `Soak, ${meta.date.slice(0, 16).replace('T', ' ')} UTC: ${meta.minutes} minutes, ${meta.concurrency} clients, ${meta.mix}; ` +
      `${meta.machine.cpus} × ${meta.machine.model}, Node ${meta.node}, PostgreSQL ${meta.postgres.version} (${meta.postgres.kind}, same machine).`,
    '',
    table,
    '',
    ...verdict.lines,
    `Verdict: ${verdict.pass ? 'PASS' : 'FAIL'}`,
  ].join('\n')
  console.log('\n' + report)

  const svg = renderSoakChart({
    title: `user-rpc soak: ${meta.minutes} minutes, ${meta.concurrency} clients, mixed load`,
    subtitle: `${meta.machine.cpus} × ${meta.machine.model} (shared, noisy), Node ${meta.node}, PostgreSQL ${meta.postgres.version}, ${meta.date.slice(0, 10)}`,
    minutes,
  })
  const folder = join(root, 'bench', 'results')
  await mkdir(folder, { recursive: true })
  const written = [`bench/results/soak-${stamp}.json`, `bench/results/soak-${stamp}.md`, `bench/results/soak-${stamp}.svg`]
  await writeFile(join(root, written[0] ?? ''), JSON.stringify({ meta, minutes, verdict }, null, 2) + '\n')
  await writeFile(join(root, written[1] ?? ''), report + '\n')
  await writeFile(join(root, written[2] ?? ''), svg)
  if (settings.writeDocs) {
    await mkdir(join(root, 'docs'), { recursive: true })
    await writeFile(join(root, 'docs', 'soak.svg'), svg)
    await writeFile(join(root, 'docs', 'soak.md'), report + '\n')
    written.push('docs/soak.svg', 'docs/soak.md')
  }
  progress(`wrote ${written.join(', ')}`)
  return verdict.pass ? 0 : 1
}

/**
 * @param {{ port: number, ids: number[], loginPrefix: string }} options
 */
function startLoad ({ port, ids, loginPrefix }) {
  const mix = MIX.map(([name, share]) => {
    const workload = workloads.get(String(name))
    if (!workload) throw new Error(`no workload ${name}`)
    return { workload, share: Number(share), next: workload.generator({ ids, loginPrefix }) }
  })
  let window = freshWindow()
  let stopping = false
  let inFlight = 0
  /** @type {() => void} */
  let drained = () => {}

  const choose = () => {
    let roll = Math.random()
    for (const entry of mix) {
      roll -= entry.share
      if (roll < 0) return entry
    }
    return /** @type {typeof mix[number]} */ (mix.at(-1))
  }

  const loops = Array.from({ length: settings.concurrency }, () => {
    /** @type {{ entry: typeof mix[number], expected: unknown, sentAt: number } | null} */
    let current = null
    const send = () => {
      if (stopping) {
        if (inFlight === 0) drained()
        return
      }
      const entry = choose()
      const call = entry.next()
      current = { entry, expected: call.expected, sentAt: performance.now() }
      inFlight++
      connection.send(`POST ${entry.workload.path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: ${entry.workload.contentType}\r\nContent-Length: ${Buffer.byteLength(call.body)}\r\n\r\n${call.body}`)
    }
    const settle = () => {
      inFlight--
      send()
    }
    const connection = new HttpConnection({
      host: '127.0.0.1',
      port,
      onAnswer: ({ status, body }) => {
        if (!current) return
        const { entry, expected, sentAt } = current
        window.requests++
        window.latencies.push(performance.now() - sentAt)
        const problem = status === 200 ? entry.workload.check(body, expected) : `HTTP ${status}`
        if (problem) countError(problem)
        else window.calls += entry.workload.callsPerRequest
        settle()
      },
      onFailure: () => {
        countError('connection')
        setTimeout(settle, 10)
      },
    })
    send()
    return connection
  })

  /** @param {string} problem */
  function countError (problem) {
    const code = /JSON-RPC error (-?\d+)/.exec(problem)?.[1] ?? (problem.startsWith('HTTP ') ? 'http' : problem === 'connection' ? 'connection' : 'wrong')
    window.errors[code] = (window.errors[code] ?? 0) + 1
    if (window.samples.length < 3) window.samples.push(problem)
  }

  return {
    /** The minute's figures so far, and a fresh window for the next. */
    takeWindow () {
      const taken = window
      window = freshWindow()
      return taken
    },
    peek: () => window,
    stop: async () => {
      if (stopping) return
      stopping = true
      if (inFlight > 0) await Promise.race([new Promise((resolve) => { drained = () => resolve(undefined) }), sleep(30_000)])
      for (const connection of loops) connection.close()
    },
  }
}

function freshWindow () {
  return {
    requests: 0,
    calls: 0,
    latencies: /** @type {number[]} */ ([]),
    errors: /** @type {Record<string, number>} */ ({}),
    /** The first few problems, for the progress line. */
    samples: /** @type {string[]} */ ([]),
    startedAt: performance.now(),
  }
}

/**
 * The live line: elapsed time, calls/s and p99 so far this minute, errors, the last sample.
 * @param {ReturnType<typeof startLoad>} load @param {Minute[]} minutes @param {number} soakStart
 */
function showProgress (load, minutes, soakStart) {
  const window = load.peek()
  const seconds = (performance.now() - window.startedAt) / 1000
  const errors = Object.values(window.errors).reduce((sum, n) => sum + n, 0) + minutes.reduce((sum, minute) => sum + errorCount(minute), 0)
  const p99 = window.latencies.length ? percentiles([Float64Array.from(window.latencies.slice(-5000))]).p99 : NaN
  const last = minutes.at(-1)
  const line = `${clock((performance.now() - soakStart) / 1000)}/${clock(settings.minutes * 60)}  ` +
    `${Math.round(window.calls / Math.max(seconds, 0.001))} calls/s  p99 ${p99.toFixed(1)} ms  errors ${errors}` +
    (last ? `  RSS ${last.rssMiB.toFixed(0)} MiB  loop p99 ${last.loopP99Ms.toFixed(1)} ms  db ${last.dbConnections}` : '') +
    (window.samples[0] ? `  (${window.samples[0].slice(0, 60)})` : '')
  if (process.stderr.isTTY) process.stderr.write(`\r\x1b[2K${line}`)
  else if (Math.round((performance.now() - soakStart) / 1000) % 10 === 0) process.stderr.write(`${line}\n`)
}

/** @param {number} seconds */
const clock = (seconds) => `${String(Math.floor(seconds / 60)).padStart(2, '0')}:${String(Math.floor(seconds % 60)).padStart(2, '0')}`

/** @param {Minute} minute */
const errorCount = (minute) => Object.values(minute.errors).reduce((sum, n) => sum + n, 0)

/**
 * The verdict: after the warm-up minute, memory and descriptors flat (the last minute within
 * 10% of minute 2), the service's database sessions flat (the last minute's within one of
 * minute 2's, never above its pool size), and no unexpected error at all.
 * @param {Minute[]} minutes
 */
function judge (minutes) {
  const base = minutes.find((minute) => minute.minute === BASELINE_MINUTE)
  const last = minutes.at(-1)
  if (!base || !last || last === base) return { pass: false, lines: [`- too short to judge: the verdict needs at least ${BASELINE_MINUTE + 1} minutes`] }
  const growth = (/** @type {number} */ to, /** @type {number} */ from) => (to - from) / from
  const rss = growth(last.rssMiB, base.rssMiB)
  const fds = growth(last.fds, base.fds)
  const maxSessions = Math.max(...minutes.map((minute) => minute.dbConnections))
  const errors = minutes.reduce((sum, minute) => sum + errorCount(minute), 0)
  const checks = [
    { pass: Math.abs(rss) <= FLAT_TOLERANCE, line: `memory: RSS ${base.rssMiB.toFixed(0)} MiB at minute ${BASELINE_MINUTE}, ${last.rssMiB.toFixed(0)} MiB at minute ${last.minute} (${signed(rss)}; flat means within ±10%)` },
    { pass: Math.abs(fds) <= FLAT_TOLERANCE, line: `file descriptors: ${base.fds} at minute ${BASELINE_MINUTE}, ${last.fds} at minute ${last.minute} (${signed(fds)}; flat means within ±10%)` },
    { pass: Math.abs(last.dbConnections - base.dbConnections) <= 1 && maxSessions <= 10, line: `database connections: ${base.dbConnections} at minute ${BASELINE_MINUTE}, ${last.dbConnections} at minute ${last.minute}, at most ${maxSessions} (flat means within one, and never above the pool's 10)` },
    { pass: errors === 0, line: `unexpected errors: ${errors}${errors ? ` (${JSON.stringify(sumErrors(minutes))})` : ''}` },
  ]
  return { pass: checks.every((check) => check.pass), lines: checks.map((check) => `- ${check.pass ? 'ok' : 'FAIL'}: ${check.line}`) }
}

/** @param {number} fraction */
const signed = (fraction) => `${fraction >= 0 ? '+' : ''}${(fraction * 100).toFixed(1)}%`

/** @param {Minute[]} minutes */
function sumErrors (minutes) {
  /** @type {Record<string, number>} */
  const total = {}
  for (const minute of minutes) for (const [code, n] of Object.entries(minute.errors)) total[code] = (total[code] ?? 0) + n
  return total
}

/** @param {Minute} minute */
function formatRow (minute) {
  const errors = errorCount(minute) === 0 ? '0' : Object.entries(minute.errors).map(([code, n]) => `${code}: ${n}`).join(', ')
  return `| ${minute.minute} | ${minute.calls.toLocaleString('en')} | ${Math.round(minute.callsPerSecond)} | ${errors} | ${minute.p50Ms.toFixed(1)} | ${minute.p99Ms.toFixed(1)} | ` +
    `${minute.rssMiB.toFixed(0)} | ${minute.fds} | ${minute.loopP99Ms.toFixed(1)} | ${minute.loopMaxMs.toFixed(1)} | ${minute.poolConnections} | ${minute.dbConnections} |`
}

/** @param {Minute[]} minutes */
function formatTable (minutes) {
  return [
    '| minute | calls | calls/s | errors | p50 ms | p99 ms | RSS MiB | fds | loop p99 ms | loop max ms | pool | db sessions |',
    '|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...minutes.map(formatRow),
  ].join('\n')
}

/**
 * The service's /metrics as name{labels} → value.
 * @param {number} port
 */
async function scrape (port) {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()
  /** @type {Map<string, number>} */
  const values = new Map()
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue
    const space = line.lastIndexOf(' ')
    values.set(line.slice(0, space), Number(line.slice(space + 1)))
  }
  return values
}

/** @param {number} pid */
async function residentMiB (pid) {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '')
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN) / 1024
}

/** @param {number} pid */
async function openFds (pid) {
  return (await readdir(`/proc/${pid}/fd`).catch(() => [])).length
}

/** The service's own sessions (its pool names them `user-rpc`), seen from the server. */
async function serviceSessions (/** @type {string} */ url) {
  return await withClient(url, async (client) =>
    Number((await client.query("SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = 'user-rpc'")).rows[0].n))
}

/** @param {number} ms */
function sleep (ms) {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

// Last, so every helper above is initialised before the run uses it.
let exitCode = 1
try {
  exitCode = await main()
} catch (error) {
  progress(`failed: ${/** @type {Error} */ (error)?.stack ?? error}`)
} finally {
  await cleanup.run()
}
process.exit(exitCode)
