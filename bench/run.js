#!/usr/bin/env node
// @ts-check
/**
 * `npm run bench`: the service beside its floor (the same route doing the same SQL through
 * pg) and its HTTP ceiling (the same route, no database), on one PostgreSQL, in one run.
 *
 * Starts everything itself on 127.0.0.1 (a fresh PostgreSQL, migrated once and seeded; the
 * three servers, each its own process), runs every workload at every concurrency with the
 * sides taking turns, prints one markdown table per workload and the issue's goals to
 * stdout (progress goes to stderr), keeps the raw figures and a chart in bench/results/,
 * and stops everything at the end, on failure, and on Ctrl-C. Settings: bench/config.js.
 */
import { rm } from 'node:fs/promises'
import { cpus, release, totalmem } from 'node:os'
import { runOrder, summarizeCell } from './cell.js'
import { renderChart } from './chart.js'
import { createCleanup } from './cleanup.js'
import { BenchConfigError, readBenchConfig } from './config.js'
import { provisionDatabase } from './database.js'
import { goals, measures } from './goals.js'
import { measureRun } from './measure.js'
import { formatGoals, formatHeader, formatReplicaReads, formatWorkloadTable, readsFrom } from './report.js'
import { openServerLog, saveResults } from './results.js'
import { seedUsers } from './seed.js'
import { toBaselineEnv } from './baseline-settings.js'
import { serviceSettings } from './service-defaults.js'
import { targets } from './targets.js'
import { workloads } from './workloads.js'
import { reachableTempFolder } from '../scripts/postgres-topology.js'

/** Start-up of a load client and the drain after its window, per run (measured, roughly). */
const RUN_OVERHEAD_SECONDS = 0.6

const progress = (/** @type {string} */ line) => process.stderr.write(`bench: ${line}\n`)

/** @type {import('./config.js').BenchConfig} */
let config
try {
  config = readBenchConfig(process.env)
} catch (error) {
  if (!(error instanceof BenchConfigError)) throw error
  progress(error.message)
  process.exit(1)
}

const cleanup = createCleanup()
let interrupted = false
for (const signal of /** @type {const} */ (['SIGINT', 'SIGTERM'])) {
  process.on(signal, () => {
    if (interrupted) process.exit(1)
    interrupted = true
    progress(`${signal}: stopping everything (again to force)`)
    cleanup.run().finally(() => process.exit(130))
  })
}

let exitCode = 0
try {
  await main(config)
} catch (error) {
  if (!interrupted) {
    progress(`failed: ${/** @type {Error} */ (error)?.stack ?? error}`)
    exitCode = 1
  }
} finally {
  await cleanup.run()
}
process.exit(exitCode)

/** @param {import('./config.js').BenchConfig} config */
async function main (config) {
  const started = new Date()
  // The embedded PostgreSQL runs as the `postgres` user when we are root: it must enter here.
  const workDir = await reachableTempFolder('bench')
  cleanup.add('the temporary folder', () => rm(workDir, { recursive: true, force: true }))

  progress(config.replica ? 'starting Debian\'s PostgreSQL and a streaming replica of it' : config.databaseUrl ? 'creating a database on BENCH_DATABASE_URL' : 'starting an embedded PostgreSQL')
  const database = await provisionDatabase({ externalUrl: config.databaseUrl, replica: config.replica, workDir, log: progress })
  cleanup.add('the database', database.stop)
  const ids = await seedUsers(database.url, config.seedUsers)
  // Reads on the replica must find every seeded user from the first call.
  await database.caughtUp?.()

  const stamp = started.toISOString().replace(/[:.]/g, '-')
  const chosen = targets.filter((target) => config.targets.includes(target.name))
  // What the service needs for the chosen workloads (the XML-RPC bridge, say), then the lever.
  const serviceEnv = { ...Object.assign({}, ...config.workloads.map((name) => workloadNamed(name).serviceEnv ?? {})), ...config.serviceEnv }
  // What the baselines copy from the service, the lever being measured included.
  const settings = serviceSettings(serviceEnv)
  /** @type {Map<string, import('./targets.js').RunningTarget>} */
  const running = new Map()
  for (const target of chosen) {
    const log = await openServerLog(stamp, target.name)
    cleanup.add(`${target.name}'s log`, log.close)
    progress(`starting ${target.name} (its output goes to ${log.path})`)
    const server = await target.start({ databaseUrl: database.url, replicaUrl: database.replicaUrl, output: log.fd, serviceEnv, serviceNodeArgs: config.serviceNodeArgs, leverEnv: config.leverEnv, leverNodeArgs: config.leverNodeArgs, baselineEnv: toBaselineEnv(settings) })
    cleanup.add(target.name, server.stop)
    running.set(target.name, server)
  }

  /** @type {import('./report.js').Meta} */
  const meta = {
    date: started.toISOString(),
    machine: { cpus: cpus().length, model: cpus()[0]?.model ?? 'unknown', memoryGiB: totalmem() / 2 ** 30, kernel: release() },
    node: process.version,
    postgres: { version: database.version, kind: database.kind },
    poolSize: settings.poolSize,
    batchConcurrency: settings.batchConcurrency,
    seconds: config.seconds,
    warmupSeconds: config.warmupSeconds,
    rounds: config.rounds,
    seedUsers: config.seedUsers,
    targets: chosen.map(({ name, description, alternates }) => ({ name, description: name === 'service' ? withLever(description, serviceEnv, config.serviceNodeArgs) : name === 'service-lever' ? withLever(description, config.leverEnv, config.leverNodeArgs) : description, alternates })),
  }
  console.log(formatHeader(meta))

  const order = runOrder(chosen, config.rounds)
  /** The runs of one cell: the sides that speak the workload, in order. */
  const orderFor = (/** @type {import('./workloads.js').Workload} */ workload) =>
    order.filter(({ target }) => !workload.servedBy || workload.servedBy.includes(target.name))
  const total = config.concurrency.length * config.workloads.reduce((sum, name) => sum + orderFor(workloadNamed(name)).length, 0)
  const minutes = total * (config.warmupSeconds + config.seconds + RUN_OVERHEAD_SECONDS) / 60
  progress(`${total} runs, about ${minutes.toFixed(1)} minutes`)

  /** @type {import('./cell.js').Cell[]} */
  const cells = []
  let runNumber = 0
  for (const name of config.workloads) {
    const workload = workloadNamed(name)
    /** @type {import('./cell.js').Cell[]} */
    const mine = []
    for (const concurrency of config.concurrency) {
      const runs = []
      for (const { target, round } of orderFor(workload)) {
        runNumber++
        const result = await measureRun({
          target: target.name,
          round,
          running: /** @type {import('./targets.js').RunningTarget} */ (running.get(target.name)),
          workload: name,
          concurrency,
          warmupSeconds: config.warmupSeconds,
          seconds: config.seconds,
          // A login prefix per run keeps every created login unique in the one database.
          context: { ids, loginPrefix: `r${runNumber}` },
          onCleanup: (stop) => cleanup.add('a load client', stop),
        })
        progress(`[${runNumber}/${total}] ${name} × ${concurrency} ${target.name} #${round}: ` +
          `${Math.round(result.callsPerSecond)} calls/s, p99 ${result.latencyMs.count ? result.latencyMs.p99.toFixed(1) : '–'} ms, ` +
          `${result.errors} errors, load gen CPU ${Math.round(result.clientCpuShare * 100)}%` +
          `${result.warmupSeconds > config.warmupSeconds + 0.5 ? `, warm-up ${result.warmupSeconds.toFixed(1)} s` : ''}${result.problems.length ? ', INVALID' : ''}`)
        runs.push(result)
      }
      const cell = summarizeCell(name, concurrency, chosen.map((target) => target.name), runs)
      mine.push(cell)
      cells.push(cell)
    }
    console.log('\n' + formatWorkloadTable(workload, mine, chosen))
  }

  const verdicts = goals.map((goal) => ({ label: goal.label, verdict: goal.evaluate(cells) }))
  const figures = measures.map((measure) => ({ label: measure.label, figure: measure.evaluate(cells) }))
  console.log('\n' + formatGoals(verdicts, figures))

  /** @type {import('./report.js').ReplicaReads[]} */
  const replicaReads = []
  for (const target of chosen.filter((one) => one.replica)) {
    const port = running.get(target.name)?.ports[0]
    replicaReads.push({ target: target.name, ...readsFrom(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()) })
  }
  if (replicaReads.length > 0) console.log('\n' + formatReplicaReads(replicaReads))

  const svg = renderChart({
    title: 'user-rpc: calls/s against concurrent clients',
    subtitle: `${meta.machine.cpus} × ${meta.machine.model}, Node ${meta.node}, PostgreSQL ${meta.postgres.version} (${meta.postgres.kind}), ${meta.date.slice(0, 10)}; hollow marker: not a valid result`,
    targets: chosen.map((target) => target.name),
    workloads: config.workloads,
    cells,
  })
  const written = await saveResults({
    stamp,
    meta,
    config: { ...config, databaseUrl: config.databaseUrl ? '(set)' : undefined },
    cells,
    goals: verdicts,
    figures,
    replicaReads,
    svg,
    writeDocs: config.writeDocs,
  })
  progress(`wrote ${written.join(', ')}`)
}

/**
 * The service's description, naming every setting it runs with beside its defaults.
 * @param {string} description @param {Record<string, string>} serviceEnv @param {string[]} nodeArgs
 */
function withLever (description, serviceEnv, nodeArgs) {
  const lever = [...Object.entries(serviceEnv).map(([name, value]) => `${name}=${value}`), ...nodeArgs]
  return lever.length > 0 ? `${description}, with ${lever.join(' ')}` : description
}

/** @param {string} name */
function workloadNamed (name) {
  return /** @type {import('./workloads.js').Workload} */ (workloads.get(name))
}
