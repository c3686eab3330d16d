// @ts-check
/**
 * One run: one side under one workload at one concurrency. Forks the load client, resets the
 * side's peak memory before it starts (so the warm-up's connection burst counts too), samples
 * the side's CPU time as the client opens and closes its window and its peak memory at the
 * close, and waits for the client to finish (its in-flight requests included), so nothing
 * of this run spills into the next.
 */
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { forkChild, messageFrom } from './children.js'
import { percentiles } from './percentiles.js'
import { cpuSeconds, peakMemoryMiB, resetPeakMemory } from './process-stats.js'

const loadClient = join(dirname(fileURLToPath(import.meta.url)), 'load-client.js')

/**
 * @typedef {object} RunResult
 * @property {string} target
 * @property {number} round
 * @property {number} warmupSeconds
 * @property {number} seconds
 * @property {number} requests
 * @property {number} calls
 * @property {number} callsPerSecond
 * @property {number} requestsPerSecond
 * @property {number} errors
 * @property {number} warmupErrors
 * @property {string[]} errorSamples
 * @property {string[]} problems         why the run is not a valid result (none: it is)
 * @property {import('./percentiles.js').Percentiles} latencyMs
 * @property {Float64Array} latenciesMs   every sample, for merging rounds (not written to JSON)
 * @property {number} peakRssMiB
 * @property {number} serverCpuShare     CPU seconds over wall seconds during the window (1 = a core)
 * @property {number} clientCpuShare
 */

/**
 * @typedef {object} RunRequest
 * @property {string} target
 * @property {number} round
 * @property {import('./targets.js').RunningTarget} running
 * @property {string} workload
 * @property {number} concurrency
 * @property {number} warmupSeconds
 * @property {number} seconds
 * @property {import('./workloads.js').WorkloadContext} context
 * @property {(stop: () => Promise<void>) => () => void} onCleanup   registers a stop for an interrupted run
 */

/**
 * @param {RunRequest} request
 * @returns {Promise<RunResult>}
 */
export async function measureRun (request) {
  const { running } = request
  await resetPeakMemory(running.pids)
  const client = forkChild(loadClient, { PATH: process.env.PATH ?? '' })
  const forget = request.onCleanup(client.stop)
  try {
    /** Reads the side's CPU time as a window edge passes, and when. */
    const sampleAt = (/** @type {string} */ edge) => messageFrom(client, edge).then(async () => {
      const at = performance.now()
      return { at, cpu: await cpuSeconds(running.pids) }
    })
    const windowOpened = sampleAt('window-start')
    const windowClosed = sampleAt('window-end')
    const resultSent = messageFrom(client, 'result')
    // Awaited in turn below; a client that dies early must not leave the later ones unheard.
    windowClosed.catch(() => {})
    resultSent.catch(() => {})
    /** @type {import('./load-client.js').LoadJob} */
    const job = {
      host: '127.0.0.1',
      ports: running.ports,
      workload: request.workload,
      concurrency: request.concurrency,
      warmupMs: request.warmupSeconds * 1000,
      windowMs: request.seconds * 1000,
      context: request.context,
    }
    client.process.send(job)
    const start = await windowOpened
    const end = await windowClosed
    const peakRssMiB = await peakMemoryMiB(running.pids)
    /** @type {import('./load-client.js').LoadResult} */
    const result = await resultSent
    const code = await client.exited
    if (code !== 0) throw new Error(`the load client exited with ${code}`)
    const problems = [
      ...(result.errors > 0 ? [`${result.errors} error(s): ${result.errorSamples.slice(0, 3).join('; ')}`] : []),
      // A latency longer than the window leaves nothing measured, which is no result either.
      ...(result.requests === 0 ? [`no right answer within the ${request.seconds} s window`] : []),
    ]
    return {
      target: request.target,
      round: request.round,
      warmupSeconds: result.warmupSeconds,
      seconds: result.seconds,
      requests: result.requests,
      calls: result.calls,
      callsPerSecond: result.calls / result.seconds,
      requestsPerSecond: result.requests / result.seconds,
      errors: result.errors,
      warmupErrors: result.warmupErrors,
      errorSamples: result.errorSamples,
      problems,
      latencyMs: percentiles([result.latenciesMs]),
      latenciesMs: result.latenciesMs,
      peakRssMiB,
      serverCpuShare: (end.cpu - start.cpu) / ((end.at - start.at) / 1000),
      clientCpuShare: result.cpuShare,
    }
  } finally {
    forget()
    await client.stop()
  }
}
