// @ts-check
/**
 * The service's settings that the baselines copy, so the comparison is like for like: pool
 * size and connection timeout, batch limit and batch concurrency, body limit. They are read
 * from the service's own configuration (dist/config.js) with the lever being measured
 * (BENCH_SERVICE_ENV) applied, never restated here, and handed to the baselines through
 * their environment (baseline-settings.js), since the baselines import nothing of the
 * service.
 */
import { loadConfig } from '../dist/config.js'

/**
 * @param {Record<string, string>} serviceEnv
 * @returns {import('./baseline-settings.js').BaselineSettings}
 */
export function serviceSettings (serviceEnv) {
  // Any URL will do: nothing connects; it only keeps the embedded default out of the picture.
  const config = loadConfig({ ...serviceEnv, DATABASE_URL: 'postgresql://bench@127.0.0.1/bench' })
  return {
    poolSize: config.DATABASE_POOL_MAX,
    connectTimeoutMs: config.DATABASE_CONNECT_TIMEOUT_MS,
    batchMax: config.RPC_BATCH_MAX,
    batchConcurrency: config.RPC_BATCH_CONCURRENCY,
    bodyLimit: config.RPC_BODY_LIMIT_BYTES,
  }
}
