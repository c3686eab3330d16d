// @ts-check
/**
 * Starts the built service (dist/server.js, with the tracing preload as npm start runs it) as a child process on a free loopback port, on
 * a fresh embedded PostgreSQL in a temporary folder unless `env.DATABASE_URL` is set, and
 * stops it (and removes the folder) on `stop()`. Shared by the benchmark and the OpenRPC
 * coverage run.
 */
import { spawn } from 'node:child_process'
import { rm } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { freePort, reachableTempFolder } from './postgres-topology.js'

export const root = join(dirname(fileURLToPath(import.meta.url)), '..')

/**
 * @param {Record<string, string>} env
 * @param {{ output?: 'inherit' | number, nodeArgs?: string[] }} [options]  where the service's
 *   stdout and stderr go: ours, or an open file descriptor (the benchmark keeps its report on
 *   stdout clean); and Node flags to run it with (the benchmark measures V8 settings)
 */
export async function startBuiltService (env = {}, options = {}) {
  const output = options.output ?? 'inherit'
  const folder = await reachableTempFolder('run')
  const port = await freePort()
  const preload = pathToFileURL(join(root, 'dist', 'telemetry.js')).href
  const child = spawn(process.execPath, ['--import', preload, ...(options.nodeArgs ?? []), join(root, 'dist', 'server.js')], {
    cwd: root,
    env: {
      ...process.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      DATABASE_URL: '',
      EMBEDDED_DATABASE_DIR: join(folder, 'postgres'),
      LOG_LEVEL: 'warn',
      API_KEYS: '',
      ...env,
    },
    stdio: ['ignore', output, output],
  })
  const exited = new Promise((resolve) => child.on('exit', resolve))
  const base = `http://127.0.0.1:${port}`

  const stop = async () => {
    child.kill('SIGTERM')
    await exited
    await rm(folder, { recursive: true, force: true })
  }

  try {
    await Promise.race([
      waitUntilReady(base),
      exited.then((code) => { throw new Error(`the service exited with ${code} before it was ready`) }),
    ])
  } catch (error) {
    await stop()
    throw error
  }
  return { url: `${base}/rpc`, pid: child.pid, stop }
}

/** @param {string} base */
async function waitUntilReady (base) {
  for (let attempt = 0; attempt < 600; attempt++) {
    try {
      if ((await fetch(`${base}/readyz`)).ok) return
    } catch { /* not listening yet */ }
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error('the service was not ready within 60 s')
}
