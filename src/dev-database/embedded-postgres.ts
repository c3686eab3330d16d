import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { access, mkdir, readFile, unlink, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ensureDatabase, initialiseCluster, startCluster, SUPERUSER } from './init-cluster.js'
import { withLock } from './folder-lock.js'
import { addLease, liveLeases, removeLease } from './leases.js'
import { findPostgresBinaries } from './postgres-binaries.js'
import { makeReachableForPostgresUser, postgresUserIfRoot } from './postgres-user.js'
import { readPostmaster, stopPostmaster } from './postmaster.js'
import { choosePort, rememberPort } from './port-choice.js'
import { isAlive, sharedStatePaths, sleep } from './shared-state.js'

/** This process's hold on the embedded PostgreSQL of one data folder. */
export interface EmbeddedPostgres {
  /** Superuser URL of the `postgres` maintenance database. */
  adminUrl: string
  /** URL of the application database (created if missing). */
  url: string
  port: number
  /** true when this process started the server, false when it joined one already running. */
  started: boolean
  /** Whether the server is up on `port` (its postmaster alive and ready). */
  isRunning: () => Promise<boolean>
  /**
   * Brings the server back after it stopped while held (killed, crashed): under the lock,
   * starts it on the same folder and port, or rejoins it when another holder already has.
   */
  restart: () => Promise<'started' | 'joined'>
  /**
   * Gives the hold up; the last holder stops the server (resolving once it is down). Other
   * holders' work goes on. Calling it again does nothing.
   */
  release: () => Promise<void>
}

export interface EmbeddedOptions {
  dir: string
  /** Unset: the port this folder last ran on (a free one the first time); 0: any free port. */
  port?: number | undefined
  database?: string
  /** Things the operator should know, such as permissions changed on their folders. */
  notice?: (line: string) => void
}

const PASSWORD_FILE = 'user-rpc.password'
const keeperScript = fileURLToPath(new URL('./keeper.js', import.meta.url))

/**
 * A real PostgreSQL on a data folder, shared by every process of this project that wants it:
 * the service (`npm start`, `npm run dev`), the Prisma CLI (prisma.config.ts), the seed,
 * `npm run db:url`. The first starts it, the others join it; it runs while any of them holds
 * it, so a schema change or Prisma Studio works beside a running service, and a service
 * restart does not take the database from the others.
 *
 * Processes agree through a lock and one lease file each (folder-lock.js, leases.js), and learn whether a
 * server runs, and on which port, from PostgreSQL's own postmaster.pid. A keeper process
 * stops the server once no holder is left, however the holders ended. Two servers never open
 * one folder: starting is decided under the lock, and PostgreSQL's own interlock refuses a
 * second server on a folder regardless.
 *
 * The folder is created on first use (initdb, with a random password kept inside it), the
 * server listens on 127.0.0.1 only, and the application database is created if missing.
 */
export async function holdEmbeddedPostgres (options: EmbeddedOptions): Promise<EmbeddedPostgres> {
  const dir = resolve(options.dir)
  const database = options.database ?? 'user_rpc'
  const notice = options.notice ?? (() => {})
  const state = sharedStatePaths(dir)
  const binaries = await findPostgresBinaries()
  const runAs = await postgresUserIfRoot()
  await mkdir(state.folder, { recursive: true })
  if (runAs) await makeReachableForPostgresUser([dir, binaries.folder], notice)

  const held = await withLock(state.lock, async () => {
    let running = await settledServer(dir)
    let started = false
    if (!running) {
      if (!await exists(join(dir, 'PG_VERSION'))) {
        const password = randomBytes(18).toString('base64url')
        await initialiseCluster({ dir, binaries, runAs }, password)
        await writeFile(join(dir, PASSWORD_FILE), `${password}\n`, { mode: 0o600 })
      }
      const port = await choosePort(dir, options.port, notice)
      await startCluster({ dir, binaries, runAs }, port)
      await rememberPort(dir, port)
      running = { port }
      started = true
    } else if (options.port && options.port !== running.port) {
      notice(`embedded database: already running on port ${running.port}, joined there (EMBEDDED_DATABASE_PORT is ${options.port})`)
    }
    const lease = await addLease(state.leases)
    await ensureKeeper(dir, state.keeper)
    const password = (await readFile(join(dir, PASSWORD_FILE), 'utf8')).trim()
    const base = `postgresql://${SUPERUSER}:${encodeURIComponent(password)}@127.0.0.1:${running.port}`
    try {
      await ensureDatabase(`${base}/postgres`, database)
    } catch (error) {
      await removeLease(state.leases, lease)
      if (started) await stopPostmaster(dir)
      throw error
    }
    return { lease, started, port: running.port, base }
  })

  let released = false
  return {
    adminUrl: `${held.base}/postgres`,
    url: `${held.base}/${database}`,
    port: held.port,
    started: held.started,
    isRunning: async () => {
      const running = await readPostmaster(dir)
      return running !== null && running.status === 'ready' && running.port === held.port
    },
    restart: async () => await withLock(state.lock, async () => {
      const running = await settledServer(dir)
      if (running && running.port !== held.port) {
        throw new Error(`embedded database: PostgreSQL on ${dir} runs again, but on port ${running.port}, not ${held.port}`)
      }
      if (!running) await startCluster({ dir, binaries, runAs }, held.port)
      // The keeper ends when the server does; this process's lease is still there.
      await ensureKeeper(dir, state.keeper)
      return running ? 'joined' : 'started'
    }),
    release: async () => {
      if (released) return
      released = true
      await withLock(state.lock, async () => {
        await removeLease(state.leases, held.lease)
        if ((await liveLeases(state.leases)).length > 0) return
        await stopPostmaster(dir)
        // Nothing left for the keeper to watch. Ended here, it cannot touch the folder once this
        // resolves (a caller may delete it right away).
        await stopKeeper(state.keeper)
      })
    },
  }
}

/**
 * The server running on `dir`, once it is ready, or null when none runs. One that is still
 * starting or already stopping (started or stopped by hand, outside the lock) is waited for.
 */
async function settledServer (dir: string): Promise<{ port: number } | null> {
  for (let waited = 0; waited < 60_000; waited += 100) {
    const running = await readPostmaster(dir)
    if (!running) return null
    if (running.status === 'ready') return { port: running.port }
    await sleep(100)
  }
  throw new Error(`embedded database: the PostgreSQL on ${dir} neither became ready nor stopped within 60 s`)
}

/** Starts the keeper (./keeper.js) unless one is watching this folder already. */
async function ensureKeeper (dir: string, pidFile: string) {
  const current = Number.parseInt(await readFile(pidFile, 'utf8').catch(() => ''), 10)
  if (current > 0 && isAlive(current)) return
  const keeper = spawn(process.execPath, [keeperScript, dir], { detached: true, stdio: 'ignore' })
  if (keeper.pid === undefined) throw new Error('embedded database: could not start its keeper process')
  await writeFile(pidFile, `${keeper.pid}\n`)
  keeper.unref()
}

/** Ends the keeper, if one runs, and waits (briefly) for it to be gone. */
async function stopKeeper (pidFile: string) {
  const pid = Number.parseInt(await readFile(pidFile, 'utf8').catch(() => ''), 10)
  if (pid > 0 && isAlive(pid)) {
    try {
      process.kill(pid, 'SIGTERM')
    } catch { /* gone already */ }
    for (let waited = 0; waited < 2_000 && isAlive(pid); waited += 20) await sleep(20)
  }
  await unlink(pidFile).catch(() => {})
}

async function exists (path: string) {
  try {
    await access(path)
    return true
  } catch {
    return false
  }
}
