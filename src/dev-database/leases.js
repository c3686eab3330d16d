// @ts-check
import { randomBytes } from 'node:crypto'
import { mkdir, readdir, unlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { isAlive } from './shared-state.js'

/**
 * One file per user of the embedded PostgreSQL, named `<pid>-<random>`: a process may hold
 * several, and a lease whose process is gone (killed, crashed, exited without saying so)
 * counts for nothing. The server runs while a live lease exists.
 *
 * @param {string} folder
 * @returns {Promise<string>} the lease's name
 */
export async function addLease (folder) {
  await mkdir(folder, { recursive: true })
  const name = `${process.pid}-${randomBytes(4).toString('hex')}`
  await writeFile(join(folder, name), '')
  return name
}

/**
 * @param {string} folder
 * @param {string} name
 */
export async function removeLease (folder, name) {
  await unlink(join(folder, name)).catch(() => {})
}

/**
 * The leases whose processes still exist; the others are deleted on the way.
 * @param {string} folder
 * @returns {Promise<string[]>}
 */
export async function liveLeases (folder) {
  let names
  try {
    names = await readdir(folder)
  } catch {
    return []
  }
  const live = []
  for (const name of names) {
    const pid = Number.parseInt(name, 10)
    if (pid > 0 && isAlive(pid)) live.push(name)
    else await unlink(join(folder, name)).catch(() => {})
  }
  return live
}
