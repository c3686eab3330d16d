import { execFile } from 'node:child_process'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { promisify } from 'node:util'
import { projectRoot } from '../paths.js'

const run = promisify(execFile)
const require = createRequire(import.meta.url)

/** The Prisma CLI's entry point, run with this Node rather than through npx. */
const prismaCli = join(dirname(require.resolve('prisma/package.json')), 'build', 'index.js')

/**
 * Applies pending migrations with the real `prisma migrate deploy` (the same command an
 * operator runs), so the embedded database and an external one go through one path.
 * prisma.config.ts points the CLI at the project's offline schema engine.
 *
 * `databaseUrl` must reach PostgreSQL directly: Prisma Migrate holds a session advisory lock,
 * which a transaction-mode PgBouncer cannot keep. The CLI reads its URL in prisma.config.ts
 * (DIRECT_DATABASE_URL, else DATABASE_URL), so both name this one.
 */
export async function migrateDeploy (databaseUrl: string): Promise<void> {
  try {
    await run(process.execPath, [prismaCli, 'migrate', 'deploy'], {
      cwd: projectRoot,
      env: { ...process.env, DATABASE_URL: databaseUrl, DIRECT_DATABASE_URL: databaseUrl, PRISMA_HIDE_UPDATE_MESSAGE: '1' },
      timeout: 120_000,
    })
  } catch (error) {
    const failure = error as { stdout?: string, stderr?: string, message: string }
    throw new Error(`prisma migrate deploy failed: ${failure.stderr || failure.stdout || failure.message}`)
  }
}
