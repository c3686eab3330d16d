// @ts-check
/**
 * The service's defaults the baselines copy, so the comparison is like for like
 * (README, Configuration: DATABASE_POOL_MAX, DATABASE_CONNECT_TIMEOUT_MS, RPC_BATCH_MAX,
 * RPC_BATCH_CONCURRENCY, RPC_BODY_LIMIT_BYTES).
 */
export const serviceDefaults = {
  poolSize: 10,
  connectTimeoutMs: 2000,
  batchMax: 100,
  batchConcurrency: 4,
  bodyLimit: 262_144,
}
