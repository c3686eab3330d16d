import { execFile } from 'node:child_process'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { promisify } from 'node:util'
import { projectRoot } from '../paths.js'

const run = promisify(execFile)

/**
 * The Prisma CLI's entry point, run with this Node rather than through npx. Looked up only
 * when migrations are to run: the runtime image does not have the CLI (migrations run from the
 * migrate image), and serving must not need it.
 */
function prismaCli (): string {
  try {
    return join(dirname(createRequire(import.meta.url).resolve('prisma/package.json')), 'build', 'index.js')
  } catch {
    throw new Error('applying migrations needs the Prisma CLI (the prisma package), which this install leaves out: the runtime image does not carry it. Run the migrate image (docker build --target migrate) as a release step instead of MIGRATE_ON_START.')
  }
}

/**
 * Applies pending migrations with the real `prisma migrate deploy` (the same command an
 * operator runs), so the embedded database and an external one go through one path.
 * prisma.config.ts points the CLI at the project's offline schema engine. The URL is given as
 * both DATABASE_URL and DIRECT_DATABASE_URL, which prisma.config.ts prefers, so neither the
 * environment nor a `.env` file can send the CLI elsewhere.
 */
export async function migrateDeploy (databaseUrl: string): Promise<void> {
  const cli = prismaCli()
  try {
    await run(process.execPath, [cli, 'migrate', 'deploy'], {
      cwd: projectRoot,
      env: { ...process.env, DATABASE_URL: databaseUrl, DIRECT_DATABASE_URL: databaseUrl, PRISMA_HIDE_UPDATE_MESSAGE: '1' },
      timeout: 120_000,
    })
  } catch (error) {
    const failure = error as { stdout?: string, stderr?: string, message: string }
    throw new Error(`prisma migrate deploy failed: ${failure.stderr || failure.stdout || failure.message}`)
  }
}
