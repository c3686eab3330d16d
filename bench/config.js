// @ts-check
/**
 * The benchmark's settings, from BENCH_* environment variables, checked before anything
 * starts: a bad value stops the run with one line naming the variable.
 */
import { defaultTargets, targets } from './targets.js'
import { defaultWorkloads, workloads } from './workloads.js'

/**
 * @typedef {object} BenchConfig
 * @property {number} seconds          measured window per run
 * @property {number} warmupSeconds    unmeasured load before each window
 * @property {number} rounds           turns of each alternating side per cell
 * @property {string[]} workloads
 * @property {number[]} concurrency
 * @property {string[]} targets
 * @property {number} seedUsers
 * @property {string | undefined} databaseUrl   unset: an embedded PostgreSQL
 * @property {boolean} replica         Debian's PostgreSQL with a streaming replica instead (BENCH_REPLICA=1)
 * @property {boolean} writeDocs       also copy the chart to docs/bench.svg
 * @property {Record<string, string>} serviceEnv   settings the service runs with, beside its defaults
 * @property {string[]} serviceNodeArgs  Node/V8 flags the service runs with
 * @property {Record<string, string>} leverEnv   settings only the service-lever target adds
 * @property {string[]} leverNodeArgs  Node/V8 flags only the service-lever target adds
 */

export class BenchConfigError extends Error {}

/** What each variable means, for the error line and the report. */
export const variables = {
  BENCH_SECONDS: 'measured window per run, seconds (default 5)',
  BENCH_WARMUP_SECONDS: 'warm-up before each window, seconds (default 2)',
  BENCH_ROUNDS: 'rounds of service and floor per cell (default 2)',
  BENCH_WORKLOADS: `comma list (default ${defaultWorkloads.join(',')}; also: ${[...workloads.keys()].filter((name) => !defaultWorkloads.includes(name)).join(',')})`,
  BENCH_CONCURRENCY: 'comma list of client counts (default 1,32,128)',
  BENCH_TARGETS: `comma list (default ${defaultTargets.join(',')}; also: ${targets.map((target) => target.name).filter((name) => !defaultTargets.includes(name)).join(',')})`,
  BENCH_SEED_USERS: 'users seeded for the read workloads (default 1000)',
  BENCH_DATABASE_URL: 'a PostgreSQL role that may create databases; unset: embedded PostgreSQL',
  BENCH_REPLICA: '1: the database is Debian\'s PostgreSQL with a streaming replica beside it (pg_basebackup -R), for the service-replica target',
  BENCH_WRITE_DOCS: '1: also write the chart to docs/bench.svg',
  BENCH_SERVICE_ENV: 'space-separated NAME=value settings for the service, to measure a lever against its floor (default none)',
  BENCH_SERVICE_NODE_ARGS: 'space-separated Node/V8 flags for the service, e.g. --max-semi-space-size=32 (default none)',
  BENCH_LEVER_ENV: 'space-separated NAME=value settings the service-lever target adds, to measure a lever against the service itself in one run (default none)',
  BENCH_LEVER_NODE_ARGS: 'space-separated Node/V8 flags the service-lever target adds (default none)',
}

/**
 * @param {Record<string, string | undefined>} env
 * @returns {BenchConfig}
 */
export function readBenchConfig (env) {
  /** @param {keyof typeof variables} name @returns {string | undefined} */
  const value = (name) => (env[name] ?? '').trim() || undefined

  /** @param {keyof typeof variables} name @param {number} fallback @param {number} min */
  const number = (name, fallback, min) => {
    const text = value(name)
    if (text === undefined) return fallback
    const parsed = Number(text)
    if (!Number.isFinite(parsed) || parsed < min) throw new BenchConfigError(`${name}=${text}: expected a number of at least ${min} (${variables[name]})`)
    return parsed
  }

  /** @param {keyof typeof variables} name @param {string[]} fallback @param {string[]} known */
  const names = (name, fallback, known) => {
    const text = value(name)
    if (text === undefined) return fallback
    const list = text.split(',').map((item) => item.trim()).filter(Boolean)
    const unknown = list.filter((item) => !known.includes(item))
    if (list.length === 0 || unknown.length > 0) throw new BenchConfigError(`${name}=${text}: unknown ${unknown.join(', ') || 'empty list'} (${variables[name]})`)
    return list
  }

  const concurrencyText = value('BENCH_CONCURRENCY')
  const concurrency = concurrencyText === undefined
    ? [1, 32, 128]
    : concurrencyText.split(',').map((item) => Number(item.trim()))
  if (concurrency.length === 0 || concurrency.some((count) => !Number.isInteger(count) || count < 1 || count > 4096)) {
    throw new BenchConfigError(`BENCH_CONCURRENCY=${concurrencyText}: expected whole numbers from 1 to 4096 (${variables.BENCH_CONCURRENCY})`)
  }

  const rounds = number('BENCH_ROUNDS', 2, 1)
  if (!Number.isInteger(rounds)) throw new BenchConfigError(`BENCH_ROUNDS=${rounds}: expected a whole number`)
  const seedUsers = number('BENCH_SEED_USERS', 1000, 1)
  if (!Number.isInteger(seedUsers)) throw new BenchConfigError(`BENCH_SEED_USERS=${seedUsers}: expected a whole number`)

  const chosenTargets = names('BENCH_TARGETS', defaultTargets, targets.map((target) => target.name))
  const replica = value('BENCH_REPLICA') === '1'
  if (replica && value('BENCH_DATABASE_URL')) throw new BenchConfigError(`BENCH_REPLICA=1 starts its own primary and replica; unset BENCH_DATABASE_URL (${variables.BENCH_REPLICA})`)
  const needing = targets.filter((target) => target.replica && chosenTargets.includes(target.name)).map((target) => target.name)
  if (needing.length > 0 && !replica) throw new BenchConfigError(`BENCH_TARGETS: ${needing.join(', ')} needs BENCH_REPLICA=1 (${variables.BENCH_REPLICA})`)

  return {
    seconds: number('BENCH_SECONDS', 5, 0.1),
    warmupSeconds: number('BENCH_WARMUP_SECONDS', 2, 0),
    rounds,
    workloads: names('BENCH_WORKLOADS', defaultWorkloads, [...workloads.keys()]),
    concurrency: [...new Set(concurrency)].sort((a, b) => a - b),
    targets: chosenTargets,
    seedUsers,
    databaseUrl: value('BENCH_DATABASE_URL'),
    replica,
    writeDocs: value('BENCH_WRITE_DOCS') === '1',
    serviceEnv: settings(value('BENCH_SERVICE_ENV'), 'BENCH_SERVICE_ENV'),
    serviceNodeArgs: words(value('BENCH_SERVICE_NODE_ARGS')),
    leverEnv: settings(value('BENCH_LEVER_ENV'), 'BENCH_LEVER_ENV'),
    leverNodeArgs: words(value('BENCH_LEVER_NODE_ARGS')),
  }
}

/** @param {string | undefined} text @returns {string[]} */
const words = (text) => (text ?? '').split(/\s+/).filter(Boolean)

/**
 * `NAME=value NAME2=value2`: settings for one lever's run.
 * @param {string | undefined} text
 * @param {'BENCH_SERVICE_ENV' | 'BENCH_LEVER_ENV'} variable  where the text came from
 * @returns {Record<string, string>}
 */
function settings (text, variable) {
  const pairs = words(text).map((pair) => {
    const match = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(pair)
    if (!match) throw new BenchConfigError(`${variable}: "${pair}" is not NAME=value (${variables[variable]})`)
    return [match[1], match[2]]
  })
  return Object.fromEntries(pairs)
}
