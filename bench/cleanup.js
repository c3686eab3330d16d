// @ts-check
/**
 * What must be stopped before the benchmark exits, in reverse order of starting (the load
 * client before the servers, the servers before their database), whether it ends normally,
 * fails, or is interrupted.
 */

/** @typedef {() => Promise<void>} Step */

export function createCleanup () {
  /** @type {Array<{ label: string, step: Step }>} */
  let steps = []
  /** @type {Promise<void> | null} */
  let done = null

  return {
    /**
     * @param {string} label @param {Step} step
     * @returns {() => void} forgets the step (it was done another way)
     */
    add (label, step) {
      const entry = { label, step }
      steps.push(entry)
      return () => { steps = steps.filter((one) => one !== entry) }
    },

    /**
     * Runs every step once, last added first; a failing step does not stop the others. A
     * second caller (a signal during the normal end) waits for the same work.
     */
    run () {
      done ??= (async () => {
        for (const { label, step } of [...steps].reverse()) {
          try {
            await step()
          } catch (error) {
            process.stderr.write(`bench: stopping ${label} failed: ${/** @type {Error} */ (error)?.message ?? error}\n`)
          }
        }
        steps = []
      })()
      return done
    },
  }
}
