import { execFile } from 'node:child_process'
import { chown, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import pg from 'pg'
import type { PostgresBinaries } from './postgres-binaries.js'
import type { RunAs } from './postgres-user.js'

const run = promisify(execFile)

export const SUPERUSER = 'postgres'

/** Where PostgreSQL's own output goes, inside its data folder. */
export const serverLogFile = (dir: string) => join(dir, 'user-rpc-postgres.log')

export interface ClusterOptions {
  dir: string
  binaries: PostgresBinaries
  runAs: RunAs | undefined
}

/**
 * Creates a data folder with initdb: UTF-8, password authentication (scram-sha-256) for the
 * `postgres` superuser. The password reaches initdb through a file only it can read.
 */
export async function initialiseCluster ({ dir, binaries, runAs }: ClusterOptions, password: string) {
  await mkdir(dir, { recursive: true, mode: 0o700 })
  const scratch = await mkdtemp(join(tmpdir(), 'user-rpc-initdb-'))
  const passwordFile = join(scratch, 'password')
  try {
    await writeFile(passwordFile, `${password}\n`, { mode: 0o600 })
    if (runAs) {
      await chown(dir, runAs.uid, runAs.gid)
      await chown(scratch, runAs.uid, runAs.gid)
      await chown(passwordFile, runAs.uid, runAs.gid)
    }
    await runAsPostgres(binaries.initdb, [
      `--pgdata=${dir}`,
      `--username=${SUPERUSER}`,
      `--pwfile=${passwordFile}`,
      '--auth=scram-sha-256',
      '--encoding=UTF8',
      '--lc-messages=C',
    ], runAs, tmpdir())
  } finally {
    await rm(scratch, { recursive: true, force: true })
  }
}

/**
 * Starts the server with pg_ctl, which detaches it into a session of its own: it belongs to no
 * process that uses it, and a Ctrl-C in the terminal that started it does not reach it. It
 * listens on 127.0.0.1 only, with no Unix socket (whose folder would need to be writable by
 * the `postgres` user). Resolves once it accepts connections.
 */
export async function startCluster ({ dir, binaries, runAs }: ClusterOptions, port: number) {
  const options = `-p ${port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=''`
  try {
    await runAsPostgres(binaries.pgCtl, ['start', '--wait', '--timeout=60', '--silent', '-D', dir, '-l', serverLogFile(dir), '-o', options], runAs, dir)
  } catch (error) {
    const log = await readFile(serverLogFile(dir), 'utf8').catch(() => '')
    const lastLines = log.trim().split('\n').slice(-5).join('\n')
    throw new Error(`embedded database: PostgreSQL did not start on ${dir}, port ${port}: ${(error as Error).message.trim()}\n${lastLines}`)
  }
}

async function runAsPostgres (program: string, args: string[], runAs: RunAs | undefined, cwd: string) {
  await run(program, args, {
    cwd,
    env: { ...process.env, LC_MESSAGES: 'C' },
    ...(runAs ?? {}),
    timeout: 120_000,
  })
}

/** Creates the application database if it does not exist yet. */
export async function ensureDatabase (adminUrl: string, database: string) {
  const client = new pg.Client({ connectionString: adminUrl })
  await client.connect()
  try {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database])
    if (found.rowCount === 0) await client.query(`CREATE DATABASE ${pg.escapeIdentifier(database)}`)
  } finally {
    await client.end()
  }
}
