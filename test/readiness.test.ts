import { chmod, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildApp } from '../src/app.js'
import { loadConfig } from '../src/config.js'
import { startEmbeddedPostgres, type EmbeddedDatabase } from '../src/db/embedded-postgres.js'
import { migrateDeploy } from '../src/db/migrate.js'

/** A PostgreSQL of this test's own, so it can be stopped without touching the others. */
let folder: string
let server: EmbeddedDatabase
beforeAll(async () => {
  folder = await mkdtemp(join(tmpdir(), 'user-rpc-ready-'))
  await chmod(folder, 0o755)
  server = await startEmbeddedPostgres({ dir: join(folder, 'data'), database: 'ready' })
})
afterAll(async () => {
  await server.stop()
  await rm(folder, { recursive: true, force: true })
})

describe('/readyz', () => {
  it('when migrations are pending, then 503 names them; after migrate deploy, 200', async () => {
    const config = loadConfig({ DATABASE_URL: server.url, DATABASE_CONNECT_TIMEOUT_MS: '500', READINESS_TIMEOUT_MS: '1000' })
    const app = await buildApp({ config, databaseUrl: server.url })
    try {
      const pending = await app.inject({ method: 'GET', url: '/readyz' })
      expect(pending.statusCode).toBe(503)
      expect(pending.json()).toMatchObject({ status: 'unavailable', reason: 'migrations pending', pending: [expect.stringMatching(/_init$/)] })

      await migrateDeploy(server.url)
      expect((await app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200)

      await server.stop()
      const down = await app.inject({ method: 'GET', url: '/readyz' })
      expect(down.statusCode).toBe(503)
      expect(down.json()).toEqual({ status: 'unavailable', reason: 'database not answering' })
      expect((await app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200)

      server = await startEmbeddedPostgres({ dir: join(folder, 'data'), database: 'ready', port: server.port })
      let status = 0
      for (let attempt = 0; attempt < 20 && status !== 200; attempt++) {
        status = (await app.inject({ method: 'GET', url: '/readyz' })).statusCode
        if (status !== 200) await new Promise((resolve) => setTimeout(resolve, 100))
      }
      expect(status).toBe(200)
    } finally {
      await app.close()
    }
  })
})
