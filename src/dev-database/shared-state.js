// @ts-check
/**
 * The bookkeeping of processes that share one embedded PostgreSQL: a lock, one lease file
 * per user, and the keeper's pid. It lives beside the data folder (`.data/postgres.run/` for
 * `.data/postgres`), not in it: the lock is needed before initdb creates the data folder, and
 * that folder is PostgreSQL's.
 *
 * Plain JavaScript, like the keeper that reads it: the keeper runs under plain `node` in
 * every setting (from src/ during development, from dist/ when built).
 */
import { join } from 'node:path'

/** @param {string} dataDir an absolute path */
export function sharedStatePaths (dataDir) {
  const folder = `${dataDir}.run`
  return {
    folder,
    lock: join(folder, 'lock'),
    leases: join(folder, 'leases'),
    keeper: join(folder, 'keeper.pid'),
  }
}

/**
 * Whether a process exists. EPERM means it does, under another user (as root, PostgreSQL runs
 * as `postgres`).
 * @param {number} pid
 */
export function isAlive (pid) {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return /** @type {NodeJS.ErrnoException} */ (error).code === 'EPERM'
  }
}

/** @param {number} ms */
export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
