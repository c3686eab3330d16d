// @ts-check
/**
 * The targets of issue 7, as data: each reads the cells it needs and says whether the run
 * meets it. A goal whose cells were not run (a subset was asked for) has no verdict.
 */

/**
 * @typedef {object} Verdict
 * @property {number} value
 * @property {boolean} pass
 * @property {string} detail   the figures the value comes from
 */

/**
 * @typedef {object} Goal
 * @property {string} label
 * @property {(cells: import('./cell.js').Cell[]) => Verdict | null} evaluate
 */

/**
 * @param {import('./cell.js').Cell[]} cells @param {string} workload @param {number} concurrency @param {string} target
 */
const sideOf = (cells, workload, concurrency, target) =>
  cells.find((cell) => cell.workload === workload && cell.concurrency === concurrency)?.sides.find((side) => side.target === target)

const round = (/** @type {number} */ value) => Math.round(value * 100) / 100

/** A verdict on figures that are not a valid result says so. */
const caveat = (/** @type {Array<import('./cell.js').SideSummary>} */ ...sides) =>
  sides.some((side) => side.problems.length > 0) ? '; from an INVALID run' : ''

/** @param {string} workload @returns {Goal[]} */
const singleCallGoals = (workload) => [
  {
    label: `${workload} at 32 clients: service/floor calls/s ≥ 0.7`,
    evaluate: (cells) => {
      const service = sideOf(cells, workload, 32, 'service')
      const floor = sideOf(cells, workload, 32, 'floor')
      if (!service || !floor) return null
      const value = service.callsPerSecond / floor.callsPerSecond
      return { value: round(value), pass: value >= 0.7, detail: `${Math.round(service.callsPerSecond)} vs ${Math.round(floor.callsPerSecond)} calls/s${caveat(service, floor)}` }
    },
  },
  {
    label: `${workload} at 32 clients: service/floor p99 ≤ 1.5`,
    evaluate: (cells) => {
      const service = sideOf(cells, workload, 32, 'service')
      const floor = sideOf(cells, workload, 32, 'floor')
      if (!service || !floor) return null
      const value = service.latencyMs.p99 / floor.latencyMs.p99
      return { value: round(value), pass: value <= 1.5, detail: `${service.latencyMs.p99.toFixed(1)} vs ${floor.latencyMs.p99.toFixed(1)} ms${caveat(service, floor)}` }
    },
  },
]

/** @type {Goal[]} */
export const goals = [
  ...singleCallGoals('user.get'),
  ...singleCallGoals('user.create'),
  {
    label: 'batch100 at 32 clients: service calls/s ÷ its single user.get calls/s ≥ 1.5',
    evaluate: (cells) => {
      const batch = sideOf(cells, 'batch100', 32, 'service')
      const single = sideOf(cells, 'user.get', 32, 'service')
      if (!batch || !single) return null
      const value = batch.callsPerSecond / single.callsPerSecond
      return { value: round(value), pass: value >= 1.5, detail: `${Math.round(batch.callsPerSecond)} vs ${Math.round(single.callsPerSecond)} calls/s${caveat(batch, single)}` }
    },
  },
  {
    label: 'peak RSS at 128 clients (highest over the workloads): service/floor ≤ 1.5',
    evaluate: (cells) => {
      const at128 = cells.filter((cell) => cell.concurrency === 128)
      const peak = (/** @type {string} */ target) =>
        Math.max(0, ...at128.flatMap((cell) => cell.sides.filter((side) => side.target === target).map((side) => side.peakRssMiB)))
      const service = peak('service')
      const floor = peak('floor')
      if (!service || !floor) return null
      return { value: round(service / floor), pass: service / floor <= 1.5, detail: `${Math.round(service)} vs ${Math.round(floor)} MiB` }
    },
  },
  {
    label: 'errors at 128 clients (service, every workload) = 0',
    evaluate: (cells) => {
      const sides = cells.filter((cell) => cell.concurrency === 128)
        .flatMap((cell) => cell.sides.filter((side) => side.target === 'service').map((side) => ({ cell, side })))
      if (sides.length === 0) return null
      const failing = sides.filter(({ side }) => side.errors > 0)
      const value = sides.reduce((sum, { side }) => sum + side.errors, 0)
      const detail = failing.length === 0
        ? `${sides.length} workloads`
        : failing.map(({ cell, side }) => `${cell.workload}: ${side.errors}`).join(', ')
      return { value, pass: value === 0, detail }
    },
  },
]

/**
 * Figures the report states without a target: what a choice costs, for docs/benchmarks.md.
 * @typedef {object} Measure
 * @property {string} label
 * @property {(cells: import('./cell.js').Cell[]) => { value: number, detail: string } | null} evaluate
 */

/** @type {Measure[]} */
export const measures = [32, 128].map((concurrency) => ({
  label: `the XML-RPC bridge's price at ${concurrency} clients: get_user over XML-RPC ÷ over JSON-RPC, service calls/s`,
  evaluate: (cells) => {
    const xml = sideOf(cells, 'get_user.xmlrpc', concurrency, 'service')
    const json = sideOf(cells, 'get_user', concurrency, 'service')
    if (!xml || !json) return null
    return { value: round(xml.callsPerSecond / json.callsPerSecond), detail: `${Math.round(xml.callsPerSecond)} vs ${Math.round(json.callsPerSecond)} calls/s, p99 ${xml.latencyMs.p99.toFixed(1)} vs ${json.latencyMs.p99.toFixed(1)} ms${caveat(xml, json)}` }
  },
}))
