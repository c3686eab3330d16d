// The offline schema engine (tools/schema-engine) driven by the real Prisma CLI, against
// throwaway databases on the test server: what an operator runs must work with no network.
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { cp, mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { adminDatabaseUrl, adminQuery, refusingDatabaseUrl, withDatabase } from './support/database.js'

const run = promisify(execFile)
const root = fileURLToPath(new URL('..', import.meta.url))
const prismaCli = fileURLToPath(new URL('../node_modules/prisma/build/index.js', import.meta.url))
const engine = fileURLToPath(new URL('../tools/schema-engine/schema-engine.js', import.meta.url))

// Left out so that prisma.config.ts, not the caller's environment, picks the engine and
// the databases.
const { PRISMA_SCHEMA_ENGINE_BINARY, DATABASE_URL, DIRECT_DATABASE_URL, SHADOW_DATABASE_URL, FORCE_COLOR, ...inherited } = process.env
const baseEnv = { ...inherited, NO_COLOR: '1', CHECKPOINT_DISABLE: '1', PRISMA_HIDE_UPDATE_MESSAGE: '1' }

interface Outcome { code: number, output: string }

async function runNode (args: string[], env: Record<string, string> = {}, input = '', cwd = root): Promise<Outcome> {
  try {
    const running = run(process.execPath, args, { cwd, env: { ...baseEnv, ...env }, timeout: 180_000 })
    running.child.stdin?.end(input)
    const { stdout, stderr } = await running
    return { code: 0, output: stdout + stderr }
  } catch (error) {
    const failure = error as { code?: unknown, stdout?: string, stderr?: string }
    if (typeof failure.code !== 'number') throw error
    return { code: failure.code, output: `${failure.stdout ?? ''}${failure.stderr ?? ''}` }
  }
}

const prisma = (args: string[], env: Record<string, string> = {}, input = '') => runNode([prismaCli, ...args], env, input)

const query = (url: string, sql: string) => adminQuery(url, sql)

const shadowDatabases = async (adminUrl: string) =>
  (await query(adminUrl, "SELECT datname FROM pg_database WHERE datname LIKE 'prisma_migrate_shadow_db_%'"))
    .map((row) => String(row.datname))

// The tests run in order: the later ones use the database `migrate deploy` fills.
// Generous bounds: the CLI takes seconds, and many times that on a loaded machine.
describe('offline schema engine', { timeout: 240_000 }, () => {
  const adminUrl = adminDatabaseUrl()
  const suffix = randomBytes(4).toString('hex')
  const names = { main: `schema_engine_${suffix}`, shadow: `schema_engine_${suffix}_shadow` }
  const mainUrl = withDatabase(adminUrl, names.main)
  const shadowUrl = withDatabase(adminUrl, names.shadow)

  beforeAll(async () => {
    for (const name of Object.values(names)) await query(adminUrl, `CREATE DATABASE ${name}`)
  })

  afterAll(async () => {
    for (const name of Object.values(names)) await query(adminUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
  })

  it('when asked for --version, then it answers like the native binary, and prisma.config.ts wires it in', async () => {
    const cli = await prisma(['--version'])
    expect(cli.code).toBe(0)
    const enginesHash = cli.output.match(/Default Engines Hash\s*: (\w+)/)?.[1]
    expect(enginesHash).toBeDefined()
    expect(cli.output).toContain(
      `schema-engine-cli ${enginesHash} (at tools/schema-engine/schema-engine.js, resolved by PRISMA_SCHEMA_ENGINE_BINARY)`)

    expect(await runNode([engine, '--version'])).toEqual({ code: 0, output: `schema-engine-cli ${enginesHash}\n` })
  })

  it('when migrate deploy runs on an empty database, then every migration is applied', async () => {
    const result = await prisma(['migrate', 'deploy'], { DATABASE_URL: mainUrl })
    expect(result.output).toContain('All migrations have been successfully applied.')
    expect(result.code).toBe(0)

    const onDisk = (await readdir(new URL('../prisma/migrations', import.meta.url), { withFileTypes: true }))
      .filter((entry) => entry.isDirectory()).map((entry) => entry.name).sort()
    const applied = await query(mainUrl,
      'SELECT migration_name FROM _prisma_migrations WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL ORDER BY 1')
    expect(applied.map((row) => row.migration_name)).toEqual(onDisk)
    expect(await query(mainUrl, "SELECT to_regclass('users') IS NOT NULL AS present")).toEqual([{ present: true }])
  })

  it('when migrate status runs after it, then the database is reported up to date', async () => {
    const result = await prisma(['migrate', 'status'], { DATABASE_URL: mainUrl })
    expect(result.output).toContain('Database schema is up to date!')
    expect(result.code).toBe(0)
  })

  it('when DIRECT_DATABASE_URL is set, then the CLI migrates there, not on DATABASE_URL (which may be a PgBouncer)', async () => {
    const pooled = await refusingDatabaseUrl()
    try {
      const result = await prisma(['migrate', 'status'], { DATABASE_URL: pooled.url, DIRECT_DATABASE_URL: mainUrl })
      expect(result.output).toContain('Database schema is up to date!')
      expect(result.code).toBe(0)
    } finally {
      await pooled.close()
    }
  })

  it('when migrate diff --exit-code compares migrations and schema, then it finds no drift and drops its shadow database', async () => {
    const before = await shadowDatabases(adminUrl)
    const result = await prisma(
      ['migrate', 'diff', '--from-migrations', 'prisma/migrations', '--to-schema', 'prisma/schema.prisma', '--exit-code'],
      { DATABASE_URL: mainUrl })
    expect(result.output).toContain('No difference detected.')
    expect(result.code).toBe(0)
    expect((await shadowDatabases(adminUrl)).filter((name) => !before.includes(name))).toEqual([])
  })

  it('when db execute runs a script with $$ bodies and quoted semicolons, then the script runs whole', async () => {
    const script = `
      CREATE FUNCTION schema_engine_probe() RETURNS text LANGUAGE plpgsql AS $$
      BEGIN
        RETURN 'a;b';
      END;
      $$;`
    const result = await prisma(['db', 'execute', '--stdin'], { DATABASE_URL: mainUrl }, script)
    expect(result.output).toContain('Script executed successfully.')
    expect(await query(mainUrl, 'SELECT schema_engine_probe() AS value')).toEqual([{ value: 'a;b' }])
  })

  it('when a migration.sql has $$ bodies and a function, then it is applied whole and the database is described', async () => {
    const migrations = await mkdtemp(join(tmpdir(), 'schema-engine-migrations-'))
    try {
      await cp(fileURLToPath(new URL('../prisma/migrations', import.meta.url)), migrations, { recursive: true })
      await mkdir(join(migrations, '99990101000000_function'))
      await writeFile(join(migrations, '99990101000000_function', 'migration.sql'), `
        CREATE FUNCTION touch_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          NEW.updated_at := now(); -- a ';' the stock adapter would split on
          RETURN NEW;
        END;
        $$;
        CREATE TRIGGER users_touch BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION touch_updated_at();`)
      // The shadow database replays these migrations, then gets described (pg_proc's
      // "char" columns included) and compared with the schema.
      const result = await prisma(
        ['migrate', 'diff', '--from-migrations', migrations, '--to-schema', 'prisma/schema.prisma', '--exit-code'],
        { DATABASE_URL: mainUrl })
      expect(result.output).toContain('No difference detected.')
      expect(result.code).toBe(0)
    } finally {
      await rm(migrations, { recursive: true, force: true })
    }
  })

  it('when migrate dev runs on a fresh database, then it is brought in sync and no migration is written', async () => {
    // A copy of the project's Prisma files, so that a schema change nobody has migrated yet
    // cannot make this test write a migration into the repository.
    const project = await mkdtemp(join(tmpdir(), 'schema-engine-project-'))
    const freshUrl = withDatabase(adminUrl, `${names.main}_dev`)
    try {
      await cp(fileURLToPath(new URL('../prisma', import.meta.url)), join(project, 'prisma'), { recursive: true })
      await symlink(fileURLToPath(new URL('../node_modules', import.meta.url)), join(project, 'node_modules'))
      await writeFile(join(project, 'prisma.config.ts'), `
        import { defineConfig } from 'prisma/config'
        process.env.PRISMA_SCHEMA_ENGINE_BINARY = ${JSON.stringify(engine)}
        export default defineConfig({
          schema: 'prisma/schema.prisma',
          migrations: { path: 'prisma/migrations' },
          datasource: { url: process.env.DATABASE_URL ?? '' },
        })`)
      const before = await readdir(join(project, 'prisma', 'migrations'))

      // Creates the database, applies the history, then checks for data loss and new steps,
      // which need the migrations replayed into a shadow database.
      const result = await runNode([prismaCli, 'migrate', 'dev', '--name', 'unexpected'], { DATABASE_URL: freshUrl }, '', project)
      expect(result.output).toContain('Your database is now in sync with your schema.')
      expect(result.code).toBe(0)
      expect(await readdir(join(project, 'prisma', 'migrations'))).toEqual(before)
    } finally {
      await query(adminUrl, `DROP DATABASE IF EXISTS ${names.main}_dev WITH (FORCE)`)
      await rm(project, { recursive: true, force: true })
    }
  })

  it('when a shadow database is configured, then it is used, and the main database never is', async () => {
    await query(shadowUrl, 'CREATE TABLE leftover (id int)')
    const diff = ['migrate', 'diff', '--from-migrations', 'prisma/migrations', '--to-schema', 'prisma/schema.prisma', '--exit-code']

    const result = await prisma(diff, { DATABASE_URL: mainUrl, SHADOW_DATABASE_URL: shadowUrl })
    expect(result.code).toBe(0)
    const tables = await query(shadowUrl, "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")
    expect(tables.map((row) => row.tablename)).toEqual(['idempotency_keys', 'users'])

    // The same database under another spelling of its URL.
    const mainAgain = new URL(mainUrl)
    mainAgain.searchParams.set('application_name', 'shadow')
    const refused = await prisma(diff, { DATABASE_URL: mainUrl, SHADOW_DATABASE_URL: mainAgain.toString() })
    expect(refused.code).not.toBe(0)
    expect(refused.output).toContain('appears to be the same as the main database')
    expect(await query(mainUrl, "SELECT to_regclass('users') IS NOT NULL AS present")).toEqual([{ present: true }])
  })
})
