// @ts-check
/**
 * The sides of the comparison, as data: a name and how to start it on the benchmark's
 * database. Each runs as its own process on 127.0.0.1.
 *
 * `alternates: true` sides take turns round after round (service, floor, service, floor),
 * so machine drift hits both alike; the others run once per cell, after them. The first
 * target is the one the ratios are about. A new side (a multi-worker service, a second
 * transport) is one more entry; `pids` may name several processes, and their descendants
 * count too (process-stats.js). A side on several ports gets the load spread over them, a
 * connection each in turn, as a load balancer would.
 *
 * The service's variants are data too (`serviceVariants`): settings, a number of
 * instances, and whether they need the streaming replica (BENCH_REPLICA=1).
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
 * @property {string | undefined} replicaUrl   a streaming replica of it (BENCH_REPLICA=1)
 * @property {number} output   an open file for the server's stdout and stderr
 * @property {Record<string, string>} serviceEnv   the lever being measured, if any (BENCH_SERVICE_ENV)
 * @property {string[]} serviceNodeArgs            (BENCH_SERVICE_NODE_ARGS)
 * @property {Record<string, string>} leverEnv     what service-lever adds (BENCH_LEVER_ENV)
 * @property {string[]} leverNodeArgs              (BENCH_LEVER_NODE_ARGS)
 * @property {Record<string, string>} baselineEnv  the service's settings the baselines copy
 */

/**
 * @typedef {object} RunningTarget
 * @property {number[]} ports   the load goes to these in turn, a connection each
 * @property {number[]} pids
 * @property {() => Promise<void>} stop
 */

/**
 * @typedef {object} Target
 * @property {string} name
 * @property {string} description
 * @property {boolean} alternates
 * @property {boolean} [replica]   needs BENCH_REPLICA=1; the report says where its reads went
 * @property {(context: TargetContext) => Promise<RunningTarget>} start
 */

/**
 * The service's own settings are left at their defaults: every variable it reads is passed
 * empty (which it treats as unset), so neither the caller's shell nor a `.env` file in the
 * project can change what is measured. Only what a run needs is set: the database, where to
 * listen (startBuiltService picks the port) and open access. Its log stays at the default
 * level, info: one line per call, written to a file as a production log would be.
 * A variant adds its own settings over the lever's, and may run several instances (each its
 * own process and port, on the one database).
 * @param {TargetContext} context
 * @param {Record<string, string>} [variantEnv]
 * @param {number} [instances]
 * @returns {Promise<RunningTarget>}
 */
async function startService ({ databaseUrl, output, serviceEnv, serviceNodeArgs }, variantEnv = {}, instances = 1, variantNodeArgs = /** @type {string[]} */ ([])) {
  const setByHarness = new Set(['HOST', 'PORT', 'EMBEDDED_DATABASE_DIR'])
  const unset = Object.fromEntries(configVariables.filter((name) => !setByHarness.has(name)).map((name) => [name, '']))
  /** @type {Array<Awaited<ReturnType<typeof startBuiltService>>>} */
  const started = []
  const stop = async () => { await Promise.all(started.map((service) => service.stop())) }
  try {
    for (let instance = 0; instance < instances; instance++) {
      const service = await startBuiltService({ ...unset, ...serviceEnv, ...variantEnv, DATABASE_URL: databaseUrl, API_KEYS: '' }, { output, nodeArgs: [...serviceNodeArgs, ...variantNodeArgs] })
      started.push(service)
      if (service.pid === undefined) throw new Error('the service has no pid')
    }
  } catch (error) {
    await stop()
    throw error
  }
  return { ports: started.map((service) => Number(new URL(service.url).port)), pids: started.map((service) => /** @type {number} */ (service.pid)), stop }
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
    return { ports: [port], pids: [child.process.pid], stop: child.stop }
  } catch (error) {
    await child.stop()
    throw error
  }
}

/**
 * The service as it scales out, beside the plain `service`: what each runs with.
 * @type {Array<{ name: string, description: string, env?: (context: TargetContext) => Record<string, string>, nodeArgs?: (context: TargetContext) => string[], instances?: number, replica?: boolean }>}
 */
const serviceVariants = [
  {
    name: 'service-lever',
    description: 'the built service with BENCH_LEVER_ENV and BENCH_LEVER_NODE_ARGS on top: name it first, beside `service`, to measure one lever against the default in one run',
    env: ({ leverEnv }) => leverEnv,
    nodeArgs: ({ leverNodeArgs }) => leverNodeArgs,
  },
  {
    name: 'service-2-workers',
    description: 'the built service with WORKERS=2: a primary process and two workers sharing the port, a pool of DATABASE_POOL_MAX each',
    env: () => ({ WORKERS: '2' }),
  },
  {
    name: 'service-2-instances',
    description: 'two built services, each its own process and port on the one database, the load spread over both as a load balancer would',
    instances: 2,
  },
  {
    name: 'service-replica',
    description: 'the built service with DATABASE_REPLICA_URLS set to a streaming replica of the database (BENCH_REPLICA=1): reads on the replica, writes on the primary',
    env: ({ replicaUrl }) => ({ DATABASE_REPLICA_URLS: replicaUrl ?? '' }),
    replica: true,
  },
]

/** What `npm run bench` compares unless BENCH_TARGETS says otherwise. */
export const defaultTargets = ['service', 'floor', 'ceiling']

/** @type {Target[]} */
export const targets = [
  {
    name: 'service',
    description: 'the built service (dist/server.js), default settings',
    alternates: true,
    start: (context) => startService(context),
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
  ...serviceVariants.map(({ name, description, env = () => ({}), nodeArgs = () => [], instances = 1, replica = false }) => ({
    name,
    description,
    alternates: true,
    replica,
    start: (/** @type {TargetContext} */ context) => startService(context, env(context), instances, nodeArgs(context)),
  })),
]
