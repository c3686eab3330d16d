// @ts-check
/**
 * Latency percentiles from every sample, exactly: the samples of a window are kept in a
 * Float64Array and sorted once (a few ms for 100,000 of them). Exact nearest-rank values
 * need no dependency and no bucket precision to reason about, and rounds merge by simple
 * concatenation; the memory is 8 bytes a request, a few MiB for the busiest window.
 */

/**
 * @typedef {object} Percentiles
 * @property {number} count
 * @property {number} p50
 * @property {number} p99
 * @property {number} p999
 * @property {number} max
 */

/**
 * @param {Float64Array[]} windows  samples of one or more windows, merged
 * @returns {Percentiles}
 */
export function percentiles (windows) {
  const all = new Float64Array(windows.reduce((sum, window) => sum + window.length, 0))
  let offset = 0
  for (const window of windows) {
    all.set(window, offset)
    offset += window.length
  }
  // A typed array sorts numerically.
  all.sort()
  /** Nearest rank: the smallest sample with at least `fraction` of all samples at or below it. */
  const rank = (/** @type {number} */ fraction) => all.length === 0 ? NaN : /** @type {number} */ (all[Math.max(0, Math.ceil(fraction * all.length) - 1)])
  return { count: all.length, p50: rank(0.5), p99: rank(0.99), p999: rank(0.999), max: rank(1) }
}
