// @ts-check
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { isAlive, sleep } from './shared-state.js'

/**
 * @typedef {object} Postmaster
 * @property {number} pid
 * @property {number} port
 * @property {string} status `starting`, `ready`, `stopping` (PostgreSQL 10 and later)
 */

/**
 * The server running on a data folder, from PostgreSQL's own record of it, postmaster.pid
 * (line 1 the pid, line 4 the port, line 8 the status), or null when none runs: no file, or
 * a file left by a server that is gone.
 *
 * @param {string} dataDir
 * @returns {Promise<Postmaster | null>}
 */
export async function readPostmaster (dataDir) {
  let text
  try {
    text = await readFile(join(dataDir, 'postmaster.pid'), 'utf8')
  } catch {
    return null
  }
  const lines = text.split('\n')
  const pid = Number.parseInt(lines[0] ?? '', 10)
  if (!(pid > 0) || !isAlive(pid) || await isZombie(pid)) return null
  return { pid, port: Number.parseInt(lines[3] ?? '', 10), status: (lines[7] ?? '').trim() }
}

/**
 * A killed server that nobody has reaped yet (its parent is init, which in some containers
 * never reaps) still answers signals, but is gone. Linux only: elsewhere, false.
 *
 * @param {number} pid
 */
async function isZombie (pid) {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '')
  // After the command name (in parentheses, which may hold spaces): the state.
  return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z'
}

/**
 * Stops the server on `dataDir`, if one runs, with a fast shutdown (SIGINT: open sessions are
 * ended, nothing is lost), and resolves once it is gone. A server that ignores it for
 * `timeoutMs` gets an immediate shutdown (SIGQUIT).
 *
 * @param {string} dataDir
 * @param {{ timeoutMs?: number }} [options]
 * @returns {Promise<boolean>} whether a server was running
 */
export async function stopPostmaster (dataDir, { timeoutMs = 60_000 } = {}) {
  const running = await readPostmaster(dataDir)
  if (!running) return false
  process.kill(running.pid, 'SIGINT')
  if (await gone(dataDir, timeoutMs)) return true
  process.kill(running.pid, 'SIGQUIT')
  if (await gone(dataDir, 10_000)) return true
  throw new Error(`embedded database: PostgreSQL (pid ${running.pid}) did not stop`)
}

/**
 * @param {string} dataDir
 * @param {number} timeoutMs
 */
async function gone (dataDir, timeoutMs) {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (!await readPostmaster(dataDir)) return true
    await sleep(50)
  }
  return false
}
