// docs/development.md: `npm run dev` (scripts/dev.ts): the service from source, restarted on
// change, readable logs, on the same embedded database as `npm start`, held across restarts.
import { spawn } from 'node:child_process'
import { readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freePort } from '../scripts/postgres-topology.js'
import { fetchRpc, request } from './support/clients.js'
import { waitFor } from './support/database.js'
import { embeddedToolEnv, projectCopy, runningPostmaster } from './support/tools.js'

let project: Awaited<ReturnType<typeof projectCopy>>
beforeAll(async () => {
  project = await projectCopy()
  // As in a fresh clone: no generated Prisma client yet.
  await rm(join(project.path, 'src', 'generated'), { recursive: true, force: true })
})
afterAll(async () => { await project.remove() })

const summaryOf = async (port: number, method: string) =>
  ((await fetchRpc(`http://127.0.0.1:${port}/rpc`, request('rpc.discover', undefined, 1))).body.result?.methods as Array<{ name: string, summary: string }> | undefined)
    ?.find((entry) => entry.name === method)?.summary

/** Resolves once `text()` has not changed for `ms`. */
async function quiet (text: () => string, ms: number) {
  for (let last = text(); ; last = text()) {
    await new Promise((resolve) => setTimeout(resolve, ms))
    if (text() === last) return
  }
}

describe('npm run dev', { timeout: 180_000 }, () => {
  it('when a method changes, then the service restarts with it, on the same embedded database, and logs stay readable', async () => {
    const port = await freePort()
    const dataDir = join(project.path, '.data', 'postgres')
    // A process group of its own, so the Ctrl-C below reaches every process of it, as a terminal's does.
    const dev = spawn('npm', ['run', 'dev'], {
      cwd: project.path,
      env: { ...embeddedToolEnv(dataDir), PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    })
    const exited = new Promise<[number | null, string | null]>((resolve) => dev.on('exit', (code, signal) => resolve([code, signal])))
    // Closed once every process of the session has exited: they all write to these pipes.
    const allGone = Promise.all([new Promise((resolve) => dev.stdout.on('close', resolve)), new Promise((resolve) => dev.stderr.on('close', resolve))])
    let output = ''
    dev.stdout.on('data', (chunk: Buffer) => { output += chunk.toString() })
    dev.stderr.on('data', (chunk: Buffer) => { output += chunk.toString() })
    let interruptedAt = 0
    const readyLines = () => output.split('\n').filter((line) => /INFO.*: user-rpc ready/.test(line)).length
    try {
      await waitFor('the service starting', () => readyLines() === 1 || undefined, 100, 90_000)
      expect(await summaryOf(port, 'user.get')).toBe('Get a user by id')
      const database = await runningPostmaster(dataDir)
      expect(database).not.toBeNull()
      // pino-pretty's lines, not pino's JSON.
      expect(output).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: user-rpc ready$/m)
      expect(output).not.toMatch(/^\{"level"/m)

      const methodsFile = join(project.path, 'src', 'users', 'user-methods.ts')
      const source = await readFile(methodsFile, 'utf8')
      await writeFile(methodsFile, source.replace("summary: 'Get a user by id'", "summary: 'Get one user by id'"))
      await waitFor('the service restarting', () => readyLines() >= 2 || undefined, 100, 60_000)
      // A save may reach the watcher as more than one event (truncate, then write); wait for
      // the restarts to settle, since a Ctrl-C in the middle of one is tsx's to force.
      await quiet(() => output, 1500)
      expect(await summaryOf(port, 'user.get')).toBe('Get one user by id')
      expect(output).toContain('embedded PostgreSQL joined (already running)')
      expect(await runningPostmaster(dataDir)).toEqual(database)
    } finally {
      interruptedAt = output.length
      process.kill(-dev.pid!, 'SIGINT')
      // npm itself ends on the signal, as it does in a terminal; the session's own processes
      // shut down behind it.
      const [code, signal] = await exited
      expect(code === 0 || signal === 'SIGINT').toBe(true)
      await allGone
    }
    // One Ctrl-C reached the service once: it drained and closed, with no forced exit (close-
    // with-grace's "second SIGINT, exiting", tsx's "Force killing"); then the session let the
    // database go, and it stopped.
    const shutdown = output.slice(interruptedAt)
    expect(shutdown).toMatch(/shutting down: draining calls in flight\n\s+signal: "SIGINT"/)
    expect(shutdown).toContain('shut down cleanly')
    expect(shutdown).not.toMatch(/second SIG|Force killing/)
    await waitFor('the embedded server stopping', async () => await runningPostmaster(dataDir) === null || undefined, 100, 10_000)
  })
})
