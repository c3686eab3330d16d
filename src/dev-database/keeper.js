#!/usr/bin/env node
// @ts-check
/**
 * `node keeper.js <data folder>`: a small detached process, started with the embedded
 * PostgreSQL, that stops it once no process holds a lease on it any more.
 *
 * Users of the server release their lease when they finish cleanly, and the last one stops the
 * server itself. The keeper covers every other way a process ends: the Prisma CLI exits (it
 * gives its config file no chance to clean up), a process is killed, a terminal closes. Within
 * a tick of the last user's end, the server stops, so none is left running unowned.
 */
import { readFile, unlink } from 'node:fs/promises'
import { withLock } from './folder-lock.js'
import { liveLeases } from './leases.js'
import { readPostmaster, stopPostmaster } from './postmaster.js'
import { sharedStatePaths, sleep } from './shared-state.js'

const TICK_MS = 250

const dataDir = process.argv[2]
if (!dataDir) {
  process.stderr.write('usage: keeper.js <data folder>\n')
  process.exit(2)
}
const state = sharedStatePaths(dataDir)

/** Another keeper may have replaced this one (after it was thought gone); then it steps aside. */
async function stillTheKeeper () {
  const named = Number.parseInt(await readFile(state.keeper, 'utf8').catch(() => ''), 10)
  return named === process.pid
}

for (;;) {
  await sleep(TICK_MS)
  if (!await readPostmaster(dataDir) || !await stillTheKeeper()) break
  if ((await liveLeases(state.leases)).length > 0) continue
  try {
    // Checked again under the lock: a process may be joining right now.
    const stopped = await withLock(state.lock, async () =>
      (await liveLeases(state.leases)).length === 0 && await stopPostmaster(dataDir))
    if (stopped) break
  } catch {
    // A lock held too long or a server slow to stop: try again at the next tick.
  }
}
if (await stillTheKeeper()) await unlink(state.keeper).catch(() => {})
