// @ts-check
import { readFile, stat, unlink, writeFile } from 'node:fs/promises'
import { isAlive, sleep } from './shared-state.js'

/** A lock file that exists but names no process yet is its creator's, for this long. */
const UNNAMED_GRACE_MS = 5_000

/**
 * Runs `work` while holding an exclusive lock file (created with O_EXCL, holding our pid), so
 * that processes sharing one embedded PostgreSQL decide one at a time whether to start, join
 * or stop it. A lock whose process is gone is taken over.
 *
 * This orders decisions; it is not what keeps two servers off one data folder. PostgreSQL's
 * own interlock (postmaster.pid) does that: a second server on the folder refuses to start.
 *
 * @template T
 * @param {string} path
 * @param {() => Promise<T>} work
 * @param {{ timeoutMs?: number }} [options] starting a fresh folder (initdb) can take a while on a busy machine
 * @returns {Promise<T>}
 */
export async function withLock (path, work, { timeoutMs = 120_000 } = {}) {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    try {
      await writeFile(path, `${process.pid}\n`, { flag: 'wx' })
      break
    } catch (error) {
      if (/** @type {NodeJS.ErrnoException} */ (error).code !== 'EEXIST') throw error
    }
    const holder = await lockHolder(path)
    if (holder.abandoned) {
      await unlink(path).catch(() => {})
      continue
    }
    if (Date.now() > deadline) {
      throw new Error(`embedded database: waited ${Math.round(timeoutMs / 1000)} s for ${path}, held by process ${holder.pid ?? '(unknown)'}`)
    }
    await sleep(50)
  }
  try {
    return await work()
  } finally {
    await unlink(path).catch(() => {})
  }
}

/** @param {string} path */
async function lockHolder (path) {
  try {
    const pid = Number.parseInt(await readFile(path, 'utf8'), 10)
    if (pid > 0) return { pid, abandoned: !isAlive(pid) }
    // Created but not yet written: its creator is writing it, unless that was long ago.
    const { mtimeMs } = await stat(path)
    return { pid: undefined, abandoned: Date.now() - mtimeMs > UNNAMED_GRACE_MS }
  } catch {
    // Gone between our attempt and this read: try again at once.
    return { pid: undefined, abandoned: false }
  }
}
