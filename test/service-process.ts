import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort } from '../src/db/embedded-postgres.js'
import { projectRoot } from '../src/paths.js'

/** The built service, as `npm start` and the container run it. */
const entry = join(projectRoot, 'dist', 'server.js')

export interface RunningService {
  port: number
  /** SIGTERM, then the exit code. */
  stop: () => Promise<number | null>
}

/**
 * Starts `node dist/server.js` on a free port from a temporary folder (so a developer's own
 * `.env` does not count) with only the given settings, and resolves once it logs that it is
 * ready. The caller stops it.
 */
export async function startService (env: Record<string, string>): Promise<RunningService> {
  if (!existsSync(entry)) throw new Error('dist/server.js is missing: run `npm run build` (npm test does)')
  const port = await freePort()
  const child: ChildProcess = spawn(process.execPath, [entry], {
    cwd: tmpdir(),
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', HOST: '127.0.0.1', PORT: String(port), LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve))
  let stderr = ''
  child.stderr?.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  await new Promise<void>((resolve, reject) => {
    let buffered = ''
    child.stdout?.on('data', (chunk: Buffer) => {
      buffered += chunk.toString()
      const lines = buffered.split('\n')
      buffered = lines.pop() ?? ''
      if (lines.some((line) => line.includes('"msg":"user-rpc ready"'))) resolve()
    })
    exited.then((code) => reject(new Error(`the service exited with ${code} before it was ready: ${stderr}`)))
  })
  return {
    port,
    stop: async () => {
      child.kill('SIGTERM')
      return await exited
    },
  }
}
