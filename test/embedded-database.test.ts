// The embedded PostgreSQL as several processes share it (src/dev-database/): one
// server per data folder, started by the first user, stopped after the last, on a port that
// stays the same from one start to the next.
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { createServer, type Server } from 'node:net'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, it } from 'vitest'
import { freePort } from '../scripts/postgres-topology.js'
import { holdEmbeddedPostgres } from '../src/dev-database/index.js'
import { projectRoot } from '../src/paths.js'
import { fetchRpc, request } from './support/clients.js'
import { uniqueLogin, waitFor } from './support/database.js'
import { startService, type ServiceProcess } from './support/processes.js'
import { listening, runningPostmaster, scratchFolder } from './support/tools.js'

let folder: Awaited<ReturnType<typeof scratchFolder>>
beforeAll(async () => { folder = await scratchFolder('embedded') })
afterAll(async () => { await folder.remove() })

// Each test has a data folder of its own, so they run at once.
describe.concurrent('one embedded PostgreSQL per data folder', { timeout: 120_000 }, () => {
  it('when two services start on one data folder at once, then one PostgreSQL serves both and stops only after the last', async ({ expect }) => {
    const dir = join(folder.path, 'shared')
    const [first, second] = await Promise.all([startService({ EMBEDDED_DATABASE_DIR: dir }), startService({ EMBEDDED_DATABASE_DIR: dir })])
    const stopped = new Set<ServiceProcess>()
    const stop = async (service: ServiceProcess) => { stopped.add(service); return await service.stop() }
    try {
      const server = await runningPostmaster(dir)
      expect(server).not.toBeNull()

      const login = uniqueLogin('shared')
      const created = (await fetchRpc(`${first.url}/rpc`, request('user.create', { login }, 1))).body
      expect((await fetchRpc(`${second.url}/rpc`, request('user.getByLogin', { login }, 1))).body.result).toEqual(created.result)

      expect(await stop(first)).toBe(0)
      expect(await runningPostmaster(dir)).toEqual(server)
      expect((await fetchRpc(`${second.url}/rpc`, request('user.create', { login: uniqueLogin('after') }, 1))).body.result).toBeDefined()

      expect(await stop(second)).toBe(0)
      expect(await runningPostmaster(dir)).toBeNull()
      expect(await listening(server!.port)).toBe(false)
    } finally {
      // A failed assertion must not leave a service running.
      for (const service of [first, second]) if (!stopped.has(service)) await service.stop()
    }
  })

  it('when the server stops and starts again, then it keeps its port; when another program has taken it, it moves, says so, and keeps the new one', async ({ expect }) => {
    const dir = join(folder.path, 'port')
    const firstRun = await holdEmbeddedPostgres({ dir })
    await firstRun.release()
    const secondRun = await holdEmbeddedPostgres({ dir })
    expect(secondRun.port).toBe(firstRun.port)
    await secondRun.release()
    // The last release leaves nothing behind: no server, no keeper (the folder may go at once).
    expect(await runningPostmaster(dir)).toBeNull()
    expect(existsSync(join(`${dir}.run`, 'keeper.pid'))).toBe(false)

    const squatter = await occupy(firstRun.port)
    const notices: string[] = []
    try {
      const moved = await holdEmbeddedPostgres({ dir, notice: (line) => notices.push(line) })
      expect(moved.port).not.toBe(firstRun.port)
      expect(notices.join('\n')).toContain(`port ${firstRun.port} is taken`)
      await moved.release()
      squatter.close()
      const afterwards = await holdEmbeddedPostgres({ dir })
      expect(afterwards.port).toBe(moved.port)
      await afterwards.release()
    } finally {
      squatter.close()
    }
  })

  it('when EMBEDDED_DATABASE_PORT names a port, then the server listens there', async ({ expect }) => {
    const port = await freePort()
    const server = await holdEmbeddedPostgres({ dir: join(folder.path, 'fixed'), port })
    try {
      expect(server.port).toBe(port)
      expect((await runningPostmaster(join(folder.path, 'fixed')))?.port).toBe(port)
    } finally {
      await server.release()
    }
  })

  it('when the process holding the server is killed, then the keeper stops the server', async ({ expect }) => {
    const dir = join(folder.path, 'killed')
    // A process that takes the server and dies without a word (the built module, plain node).
    const holder = spawn(process.execPath, ['--input-type=module', '-e', `
      const { holdEmbeddedPostgres } = await import(${JSON.stringify(join(projectRoot, 'dist', 'dev-database', 'index.js'))})
      await holdEmbeddedPostgres({ dir: ${JSON.stringify(dir)} })
      process.kill(process.pid, 'SIGKILL')`], { stdio: 'inherit' })
    const [, signal] = await new Promise<[number | null, string | null]>((resolve) => holder.on('exit', (code, signal) => resolve([code, signal])))
    expect(signal).toBe('SIGKILL')
    const orphan = await runningPostmaster(dir)
    expect(orphan).not.toBeNull()
    try {
      await waitFor('the orphaned server stopping', async () => await runningPostmaster(dir) === null || undefined, 100, 10_000)
    } finally {
      if (await runningPostmaster(dir)) process.kill(orphan!.pid, 'SIGINT')
    }
  })
})

async function occupy (port: number): Promise<Server> {
  const server = createServer()
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, '127.0.0.1', resolve)
  })
  return server
}
