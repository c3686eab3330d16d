// docs/operations.md, Migrations, and docs/embedded-database.md: the Prisma CLI, the seed and `npm run db:url`
// with no DATABASE_URL: they act on the embedded PostgreSQL the service uses (prisma.config.ts →
// src/db/tool-database.ts), whether or not the service runs, and DIRECT_DATABASE_URL sends
// migrations past a pooler.
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { appendFile, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freePort } from '../scripts/postgres-topology.js'
import { shippedMigrations } from '../src/db/migration-state.js'
import { holdEmbeddedPostgres } from '../src/dev-database/index.js'
import { fetchRpc, request } from './support/clients.js'
import { adminDatabaseUrl, adminQuery, testDatabaseUrl, uniqueLogin, waitFor, withDatabase } from './support/database.js'
import { startService } from './support/processes.js'
import { embeddedToolEnv, prismaCli, projectCopy, runningPostmaster, runProgram, scratchFolder } from './support/tools.js'

let folder: Awaited<ReturnType<typeof scratchFolder>>
let dir: string
beforeAll(async () => {
  folder = await scratchFolder('prisma-embedded')
  dir = join(folder.path, 'postgres')
})
afterAll(async () => { await folder.remove() })

const prisma = (args: string[], extra: Record<string, string> = {}, cwd?: string) =>
  runProgram(process.execPath, [prismaCli, ...args], { env: embeddedToolEnv(dir, extra), ...(cwd ? { cwd } : {}) })

/** Rows of a query on the embedded database, joined (or started) for the query alone. */
async function embeddedQuery (sql: string, dataDir = dir) {
  const server = await holdEmbeddedPostgres({ dir: dataDir })
  const client = new pg.Client({ connectionString: server.url })
  try {
    await client.connect()
    return (await client.query(sql)).rows
  } finally {
    await client.end()
    await server.release()
  }
}

const stopped = () => waitFor('the embedded server stopping', async () => await runningPostmaster(dir) === null || undefined, 100, 10_000)

// In order: each test starts from the state the one before left.
describe('Prisma commands with no DATABASE_URL', { timeout: 120_000 }, () => {
  it('when no service runs, then `prisma migrate status` starts the embedded database for the command, and it stops after', async () => {
    const status = await prisma(['migrate', 'status'])
    expect(status.stdout).toMatch(/Following migrations? have not yet been applied/)
    expect(status.stdout).toMatch(/PostgreSQL database "user_rpc", schema "public" at "127\.0\.0\.1:\d+"/)
    await stopped()
  })

  it('when `prisma migrate deploy` and `prisma db seed` run, then the seed users exist, once each however often it runs', async () => {
    expect((await prisma(['migrate', 'deploy'])).stdout).toContain('All migrations have been successfully applied.')
    const first = await prisma(['db', 'seed'])
    expect(first.stdout).toContain('seed: created 5 user(s)')
    const again = await prisma(['db', 'seed'])
    expect(again.code).toBe(0)
    expect(again.stdout).toContain('seed: created 0 user(s), 5 already there')
    const rows = await embeddedQuery("SELECT login, count(*)::int AS n FROM users WHERE login IN ('ada', 'grace', 'alan', 'edsger', 'barbara') GROUP BY login")
    expect(rows).toHaveLength(5)
    expect(rows.every((row) => row.n === 1)).toBe(true)
    await stopped()
  })

  it('when the service runs on the embedded database, then a Prisma command and `npm run db:url` join it and leave it running', async () => {
    const service = await startService({ EMBEDDED_DATABASE_DIR: dir })
    try {
      const server = await runningPostmaster(dir)
      const status = await prisma(['migrate', 'status'])
      expect(status.stdout).toContain('Database schema is up to date!')
      expect(status.stdout).toContain(`at "127.0.0.1:${server?.port}"`)

      const printed = await runProgram('npm', ['run', '-s', 'db:url'], { env: embeddedToolEnv(dir) })
      const url = printed.stdout.trim()
      expect(url).toMatch(new RegExp(`^postgresql://postgres:[^@]+@127\\.0\\.0\\.1:${server?.port}/user_rpc$`))
      expect(printed.stderr).toBe('')
      const client = new pg.Client({ connectionString: url })
      await client.connect()
      expect((await client.query("SELECT count(*)::int AS n FROM users WHERE login = 'ada'")).rows).toEqual([{ n: 1 }])
      await client.end()

      expect(await runningPostmaster(dir)).toEqual(server)
      expect((await fetchRpc(`${service.url}/rpc`, request('user.getByLogin', { login: 'grace' }, 1))).body.result?.lastName).toBe('Hopper')
    } finally {
      expect(await service.stop()).toBe(0)
    }
    await stopped()
  })

  it('when nothing runs, then `npm run db:url` prints the same URL, and says the database is not running', async () => {
    const printed = await runProgram('npm', ['run', '-s', 'db:url'], { env: embeddedToolEnv(dir) })
    expect(printed.stdout.trim()).toMatch(/^postgresql:\/\/postgres:[^@]+@127\.0\.0\.1:\d+\/user_rpc$/)
    const again = await runProgram('npm', ['run', '-s', 'db:url'], { env: embeddedToolEnv(dir) })
    expect(again.stdout).toBe(printed.stdout)
    expect(printed.stderr).toContain('was not running')
    await stopped()
  })

  it('when `npx prisma studio` runs, then it reads the embedded database, which stops when Studio does', async () => {
    const port = await freePort()
    const studio = spawn(process.execPath, [prismaCli, 'studio', '--port', String(port), '--browser', 'none'], { env: embeddedToolEnv(dir), stdio: ['ignore', 'pipe', 'pipe'] })
    const exited = new Promise((resolve) => studio.on('exit', resolve))
    try {
      let output = ''
      studio.stdout.on('data', (chunk: Buffer) => { output += chunk.toString() })
      await waitFor('Studio starting', () => output.includes('Prisma Studio is running') || undefined, 100, 60_000)
      // Studio's own query endpoint, the one its pages use (Studio listens on 127.0.0.1 only).
      const response = await fetch(`http://127.0.0.1:${port}/bff`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ procedure: 'query', query: { sql: "SELECT last_name FROM users WHERE login = 'ada'", parameters: [] } }),
      })
      expect(await response.json()).toEqual([null, [{ last_name: 'Lovelace' }]])
      expect(await runningPostmaster(dir)).not.toBeNull()
    } finally {
      studio.kill('SIGTERM')
      await exited
    }
    await stopped()
  })

  it('when `prisma migrate reset --force` runs, then the data is gone and the migrations are applied again', async () => {
    const reset = await prisma(['migrate', 'reset', '--force'])
    expect(reset.code).toBe(0)
    expect(await embeddedQuery('SELECT count(*)::int AS n FROM users')).toEqual([{ n: 0 }])
    expect(await embeddedQuery('SELECT migration_name FROM _prisma_migrations')).toHaveLength((await shippedMigrations()).length)
    await stopped()
  })

  it('when the schema changes, then `prisma migrate dev` writes a migration and applies it to the embedded database', async () => {
    const project = await projectCopy()
    const projectDir = join(project.path, '.data', 'postgres')
    try {
      await appendFile(join(project.path, 'prisma', 'schema.prisma'), '\nmodel Note {\n  id   Int    @id @default(autoincrement())\n  text String\n\n  @@map("notes")\n}\n')
      const dev = await runProgram(process.execPath, [prismaCli, 'migrate', 'dev', '--name', 'add_notes'],
        { cwd: project.path, env: embeddedToolEnv(projectDir) })
      expect(dev.stdout).toContain('Your database is now in sync with your schema.')
      expect((await readdir(join(project.path, 'prisma', 'migrations'))).some((name) => name.endsWith('_add_notes'))).toBe(true)
      expect(await embeddedQuery("SELECT to_regclass('notes') IS NOT NULL AS present", projectDir)).toEqual([{ present: true }])
      await waitFor('the copy\'s embedded server stopping', async () => await runningPostmaster(projectDir) === null || undefined, 100, 10_000)
    } finally {
      await project.remove()
    }
  })
})

describe('DIRECT_DATABASE_URL', { timeout: 120_000 }, () => {
  const adminUrl = adminDatabaseUrl()
  const fresh = `direct_${randomBytes(4).toString('hex')}`
  beforeAll(async () => { await adminQuery(adminUrl, `CREATE DATABASE ${fresh}`) })
  afterAll(async () => { await adminQuery(adminUrl, `DROP DATABASE IF EXISTS ${fresh} WITH (FORCE)`) })

  it('when it is set, then the Prisma CLI migrates through it, not through DATABASE_URL', async () => {
    const unreachable = `postgresql://nobody:secret@127.0.0.1:${await freePort()}/nothing`
    const status = await runProgram(process.execPath, [prismaCli, 'migrate', 'status'],
      { env: { ...embeddedToolEnv(dir), DATABASE_URL: unreachable, DIRECT_DATABASE_URL: testDatabaseUrl() } })
    expect(status.stdout).toContain('Database schema is up to date!')
  })

  it('when the service runs with MIGRATE_ON_START, then it migrates through DIRECT_DATABASE_URL and serves on DATABASE_URL', async () => {
    const service = await startService({ DATABASE_URL: testDatabaseUrl(), DIRECT_DATABASE_URL: withDatabase(adminUrl, fresh), MIGRATE_ON_START: 'true' })
    try {
      const applied = await adminQuery(withDatabase(adminUrl, fresh), 'SELECT count(*)::int AS n FROM _prisma_migrations WHERE finished_at IS NOT NULL')
      expect(applied).toEqual([{ n: (await shippedMigrations()).length }])
      expect((await fetchRpc(`${service.url}/rpc`, request('user.create', { login: uniqueLogin('direct') }, 1))).body.result).toBeDefined()
    } finally {
      await service.stop()
    }
  })
})
