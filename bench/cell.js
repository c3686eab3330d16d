// @ts-check
/**
 * One cell of the benchmark (a workload at a concurrency): the order its runs go in, and
 * each side's figures from its rounds.
 */
import { percentiles } from './percentiles.js'

/**
 * @typedef {object} SideSummary
 * @property {string} target
 * @property {number[]} callsPerSecondRounds   one per round, in run order
 * @property {number} callsPerSecond           their mean
 * @property {number} requestsPerSecond        mean over rounds
 * @property {import('./percentiles.js').Percentiles} latencyMs   over every round's samples together
 * @property {number} errors                   over every round
 * @property {string[]} errorSamples
 * @property {string[]} problems               why some round is not a valid result (none: all are)
 * @property {number} peakRssMiB               the highest of the rounds
 * @property {number} serverCpuShare           mean over rounds (1 = a core)
 * @property {number} clientCpuShare           the highest of the rounds (1 = a core)
 */

/**
 * @typedef {object} Cell
 * @property {string} workload
 * @property {number} concurrency
 * @property {import('./measure.js').RunResult[]} runs
 * @property {SideSummary[]} sides   in target order
 */

/**
 * The alternating sides take turns for `rounds` rounds (service, floor, service, floor), so
 * drift of a shared machine falls on both; the other sides run once, after them.
 * @param {import('./targets.js').Target[]} targets @param {number} rounds
 * @returns {Array<{ target: import('./targets.js').Target, round: number }>}
 */
export function runOrder (targets, rounds) {
  const order = []
  for (let round = 1; round <= rounds; round++) {
    for (const target of targets.filter((one) => one.alternates)) order.push({ target, round })
  }
  for (const target of targets.filter((one) => !one.alternates)) order.push({ target, round: 1 })
  return order
}

/**
 * @param {string} workload @param {number} concurrency
 * @param {string[]} targetNames @param {import('./measure.js').RunResult[]} runs
 * @returns {Cell}
 */
export function summarizeCell (workload, concurrency, targetNames, runs) {
  const sides = targetNames.flatMap((target) => {
    const mine = runs.filter((run) => run.target === target)
    return mine.length === 0 ? [] : [summarizeSide(target, mine)]
  })
  return { workload, concurrency, runs, sides }
}

/** @param {number[]} values */
const mean = (values) => values.reduce((sum, value) => sum + value, 0) / values.length

/**
 * @param {string} target @param {import('./measure.js').RunResult[]} runs
 * @returns {SideSummary}
 */
function summarizeSide (target, runs) {
  const callsPerSecondRounds = runs.map((run) => run.callsPerSecond)
  return {
    target,
    callsPerSecondRounds,
    callsPerSecond: mean(callsPerSecondRounds),
    requestsPerSecond: mean(runs.map((run) => run.requestsPerSecond)),
    latencyMs: percentiles(runs.map((run) => run.latenciesMs)),
    errors: runs.reduce((sum, run) => sum + run.errors, 0),
    errorSamples: [...new Set(runs.flatMap((run) => run.errorSamples))],
    problems: runs.flatMap((run) => run.problems.map((problem) => runs.length > 1 ? `round ${run.round}: ${problem}` : problem)),
    peakRssMiB: Math.max(...runs.map((run) => run.peakRssMiB)),
    serverCpuShare: mean(runs.map((run) => run.serverCpuShare)),
    clientCpuShare: Math.max(...runs.map((run) => run.clientCpuShare)),
  }
}
