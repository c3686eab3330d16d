// @ts-check
/**
 * Child processes of the benchmark (baseline servers, load clients): forked with an IPC
 * channel, so they can report back and notice when the benchmark is gone, and stopped with
 * SIGTERM, then SIGKILL if they do not exit in time.
 */
import { fork } from 'node:child_process'
import { basename } from 'node:path'

/**
 * @typedef {object} Child
 * @property {string} file
 * @property {import('node:child_process').ChildProcess} process
 * @property {Promise<number | null>} exited   resolves with the exit code (null: killed by a signal)
 * @property {() => Promise<void>} stop
 */

/**
 * @param {string} file
 * @param {Record<string, string>} env   the whole environment: nothing is inherited by default
 * @param {'inherit' | number} [output]  where its stdout and stderr go: ours, or an open file
 * @returns {Child}
 */
export function forkChild (file, env, output = 'inherit') {
  const child = fork(file, [], {
    env,
    stdio: ['ignore', output, output, 'ipc'],
    // The load client sends its latencies as a Float64Array; structured clone keeps it one.
    serialization: 'advanced',
  })
  /** @type {Promise<number | null>} */
  const exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)))
  return { file, process: child, exited, stop: () => stopChild(child, exited) }
}

const STOP_GRACE_MS = 15_000

/**
 * @param {import('node:child_process').ChildProcess} child
 * @param {Promise<unknown>} exited
 */
async function stopChild (child, exited) {
  if (child.exitCode !== null || child.signalCode !== null) return
  child.kill('SIGTERM')
  /** @type {NodeJS.Timeout | undefined} */
  let timer
  const late = new Promise((resolve) => { timer = setTimeout(() => resolve('late'), STOP_GRACE_MS) })
  if (await Promise.race([exited, late]) === 'late') {
    child.kill('SIGKILL')
    await exited
  }
  clearTimeout(timer)
}

/**
 * Resolves with the child's first message of the given type; rejects if it exits first.
 * @param {Child} child @param {string} type
 * @returns {Promise<any>}
 */
export function messageFrom (child, type) {
  return new Promise((resolve, reject) => {
    /** @param {any} message */
    const onMessage = (message) => {
      if (message?.type !== type) return
      child.process.off('message', onMessage)
      resolve(message)
    }
    child.process.on('message', onMessage)
    child.exited.then((code) => {
      child.process.off('message', onMessage)
      reject(new Error(`${basename(child.file)} exited with ${code} before it sent "${type}"`))
    })
  })
}
