import fc from 'fast-check'

/**
 * Settings for every fc.assert in the suite: a fixed number of runs, so a property costs the
 * same every time (a few seconds), and shrinking cut off after `shrinkLimitMs` so a failure
 * over a socket cannot run on past the test's timeout (fast-check then reports the smallest
 * counterexample it has). A failure's message carries the seed and path; to replay one, run
 * the file with FC_SEED=<seed> FC_PATH=<path>.
 */
export function propertyRuns (numRuns: number, shrinkLimitMs = 30_000): fc.Parameters<unknown> {
  const seed = process.env.FC_SEED
  return {
    numRuns,
    interruptAfterTimeLimit: shrinkLimitMs + numRuns * 1000,
    markInterruptAsFailure: true,
    ...(seed ? { seed: Number(seed), ...(process.env.FC_PATH ? { path: process.env.FC_PATH } : {}) } : {}),
  }
}
