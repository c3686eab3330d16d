// @ts-check
/**
 * How the benchmark hands the service's settings to the baselines (floor and ceiling): as
 * environment variables, read back here. The baselines import nothing of the service.
 */

/**
 * @typedef {object} BaselineSettings
 * @property {number} poolSize
 * @property {number} connectTimeoutMs
 * @property {number} batchMax
 * @property {number} batchConcurrency
 * @property {number} bodyLimit
 */

/** @type {Record<keyof BaselineSettings, string>} */
const NAMES = {
  poolSize: 'BASELINE_POOL_MAX',
  connectTimeoutMs: 'BASELINE_CONNECT_TIMEOUT_MS',
  batchMax: 'BASELINE_BATCH_MAX',
  batchConcurrency: 'BASELINE_BATCH_CONCURRENCY',
  bodyLimit: 'BASELINE_BODY_LIMIT_BYTES',
}

/** @param {BaselineSettings} settings @returns {Record<string, string>} */
export function toBaselineEnv (settings) {
  return Object.fromEntries(Object.entries(NAMES).map(([key, name]) => [name, String(settings[/** @type {keyof BaselineSettings} */ (key)])]))
}

/** @param {Record<string, string | undefined>} env @returns {BaselineSettings} */
export function fromBaselineEnv (env) {
  const read = (/** @type {keyof BaselineSettings} */ key) => {
    const value = Number(env[NAMES[key]])
    if (!Number.isInteger(value) || value < 1) throw new Error(`${NAMES[key]} must be set to a whole number (the benchmark sets it)`)
    return value
  }
  return {
    poolSize: read('poolSize'),
    connectTimeoutMs: read('connectTimeoutMs'),
    batchMax: read('batchMax'),
    batchConcurrency: read('batchConcurrency'),
    bodyLimit: read('bodyLimit'),
  }
}
