import { execFile } from 'node:child_process'
import { chmod, stat } from 'node:fs/promises'
import { userInfo } from 'node:os'
import { dirname } from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)

/** The user and group PostgreSQL's programs run as. */
export interface RunAs {
  uid: number
  gid: number
}

const POSTGRES_USER = 'postgres'

/**
 * PostgreSQL refuses to run as root. As root, its programs run as the `postgres` system user,
 * created if missing (as a system user with its own group, as Debian's postgresql package
 * makes it, so that package can be installed later). Otherwise they run as we do: undefined.
 */
export async function postgresUserIfRoot (): Promise<RunAs | undefined> {
  if (userInfo().uid !== 0) return undefined
  if (!await userExists()) {
    await run('groupadd', ['--system', POSTGRES_USER]).catch(() => {})
    await run('useradd', ['--system', '--gid', POSTGRES_USER, '--no-create-home', '--shell', '/usr/sbin/nologin', POSTGRES_USER])
  }
  const [uid, gid] = await Promise.all([idOf('-u'), idOf('-g')])
  return { uid, gid }
}

async function userExists () {
  try {
    await run('id', ['-u', POSTGRES_USER])
    return true
  } catch {
    return false
  }
}

async function idOf (flag: '-u' | '-g') {
  return Number.parseInt((await run('id', [flag, POSTGRES_USER])).stdout, 10)
}

/**
 * As root, PostgreSQL runs as `postgres`, who must be able to walk down to its data folder and
 * to its binaries. A clone inside a private (0700) folder blocks it with "Permission denied",
 * so the folders above get search permission (x, not read) for others, and we say so.
 */
export async function makeReachableForPostgresUser (targets: string[], notice: (line: string) => void) {
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
