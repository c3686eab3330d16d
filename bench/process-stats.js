// @ts-check
/**
 * What a server process costs, read from Linux's /proc: peak resident memory (VmHWM, reset
 * before each run through clear_refs) and CPU time (utime + stime). A target may be several
 * processes (workers forked by a primary), so every figure covers the given processes and
 * all their descendants.
 */
import { execFileSync } from 'node:child_process'
import { readdir, readFile, writeFile } from 'node:fs/promises'

/** Kernel ticks per second, the unit of utime and stime in /proc/<pid>/stat. */
const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
  } catch {
    return 100
  }
})()

/** @param {number} pid @returns {Promise<number[]>} */
async function withDescendants (pid) {
  /** @type {number[]} */
  const found = [pid]
  let tasks = []
  try {
    tasks = await readdir(`/proc/${pid}/task`)
  } catch {
    return found
  }
  for (const task of tasks) {
    const children = await readFile(`/proc/${pid}/task/${task}/children`, 'utf8').catch(() => '')
    for (const child of children.split(' ').filter(Boolean)) found.push(...await withDescendants(Number(child)))
  }
  return found
}

/** @param {number[]} roots */
async function processesOf (roots) {
  return (await Promise.all(roots.map(withDescendants))).flat()
}

/** Starts a fresh peak: VmHWM drops to the current resident size. */
export async function resetPeakMemory (/** @type {number[]} */ roots) {
  for (const pid of await processesOf(roots)) {
    await writeFile(`/proc/${pid}/clear_refs`, '5').catch(() => {})
  }
}

/** Peak resident memory since the last reset, in MiB, summed over the processes. */
export async function peakMemoryMiB (/** @type {number[]} */ roots) {
  let kib = 0
  for (const pid of await processesOf(roots)) {
    const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '')
    kib += Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0)
  }
  return kib / 1024
}

/** CPU seconds used so far (user + system), summed over the processes. */
export async function cpuSeconds (/** @type {number[]} */ roots) {
  let ticks = 0
  for (const pid of await processesOf(roots)) {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '')
    // The command name (field 2) may hold spaces; fields after it are plain.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    // utime and stime are fields 14 and 15; this list starts at field 3 (state).
    ticks += Number(fields[11] ?? 0) + Number(fields[12] ?? 0)
  }
  return ticks / CLOCK_TICKS
}
