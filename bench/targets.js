// @ts-check
/**
 * The sides of the comparison, as data: a name and how to start it on the benchmark's
 * database. Each runs as its own process on 127.0.0.1.
 *
 * `alternates: true` sides take turns round after round (service, floor, service, floor),
 * so machine drift hits both alike; the others run once per cell, after them. The first
 * target is the one the ratios are about. A new side (a multi-worker service, a second
 * transport) is one more entry; `pids` may name several processes, and their descendants
 * count too (process-stats.js).
 */
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { configVariables } from '../dist/config.js'
import { startBuiltService } from '../scripts/built-service.js'
import { forkChild, messageFrom } from './children.js'

const here = dirname(fileURLToPath(import.meta.url))

/**
 * @typedef {object} TargetContext
 * @property {string} databaseUrl
 * @property {number} output   an open file for the server's stdout and stderr
 * @property {Record<string, string>} serviceEnv   the lever being measured, if any (BENCH_SERVICE_ENV)
 * @property {string[]} serviceNodeArgs            (BENCH_SERVICE_NODE_ARGS)
 * @property {Record<string, string>} baselineEnv  the service's settings the baselines copy
 */

/**
 * @typedef {object} RunningTarget
 * @property {number} port
 * @property {number[]} pids
 * @property {() => Promise<void>} stop
 */

/**
 * @typedef {object} Target
 * @property {string} name
 * @property {string} description
 * @property {boolean} alternates
 * @property {(context: TargetContext) => Promise<RunningTarget>} start
 */

/**
 * The service's own settings are left at their defaults: every variable it reads is passed
 * empty (which it treats as unset), so neither the caller's shell nor a `.env` file in the
 * project can change what is measured. Only what a run needs is set: the database, where to
 * listen (startBuiltService picks the port) and open access. Its log stays at the default
 * level, info: one line per call, written to a file as a production log would be.
 * @param {TargetContext} context
 */
async function startService ({ databaseUrl, output, serviceEnv, serviceNodeArgs }) {
  const setByHarness = new Set(['HOST', 'PORT', 'EMBEDDED_DATABASE_DIR'])
  const unset = Object.fromEntries(configVariables.filter((name) => !setByHarness.has(name)).map((name) => [name, '']))
  const service = await startBuiltService({ ...unset, ...serviceEnv, DATABASE_URL: databaseUrl, API_KEYS: '' }, { output, nodeArgs: serviceNodeArgs })
  if (service.pid === undefined) throw new Error('the service has no pid')
  return { port: Number(new URL(service.url).port), pids: [service.pid], stop: service.stop }
}

/**
 * A baseline server from bench/, which reports its port over IPC once it listens. Its
 * environment is built from scratch: pg reads PG* variables, and none may leak in.
 * @param {string} file @param {Record<string, string>} env @param {number} output
 * @returns {Promise<RunningTarget>}
 */
async function startBaseline (file, env, output) {
  const child = forkChild(join(here, file), { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', PORT: '0', ...env }, output)
  try {
    const { port } = await messageFrom(child, 'listening')
    if (child.process.pid === undefined) throw new Error(`${file} has no pid`)
    return { port, pids: [child.process.pid], stop: child.stop }
  } catch (error) {
    await child.stop()
    throw error
  }
}

/** @type {Target[]} */
export const targets = [
  {
    name: 'service',
    description: 'the built service (dist/server.js), default settings',
    alternates: true,
    start: startService,
  },
  {
    name: 'floor',
    description: 'the same route, envelope and SQL through pg, nothing else (bench/floor-server.js)',
    alternates: true,
    start: ({ databaseUrl, output, baselineEnv }) => startBaseline('floor-server.js', { ...baselineEnv, DATABASE_URL: databaseUrl }, output),
  },
  {
    name: 'ceiling',
    description: 'the same route answering a constant result, no database (bench/ceiling-server.js)',
    alternates: false,
    start: ({ output, baselineEnv }) => startBaseline('ceiling-server.js', baselineEnv, output),
  },
]
