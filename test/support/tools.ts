import { execFile } from 'node:child_process'
import { cp, readFile, rm, symlink } from 'node:fs/promises'
import { connect } from 'node:net'
import { join } from 'node:path'
import { reachableTempFolder } from '../../scripts/postgres-topology.js'
import { projectRoot } from '../../src/paths.js'

/**
 * Tools: the developer's programs run as a developer runs them (the Prisma CLI, npm scripts,
 * npm pack and install), in scratch folders or a scratch copy of the project, and the embedded
 * PostgreSQL's own files read from outside. Nothing here imports vitest.
 */

/** A temporary folder the `postgres` user can reach (mkdtemp makes 0700 ones), and its removal. */
export async function scratchFolder (prefix: string) {
  const path = await reachableTempFolder(prefix)
  return { path, remove: () => rm(path, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 }) }
}

export interface Outcome { code: number | null, stdout: string, stderr: string }

/** Runs a program to its end; a non-zero exit is an outcome, not an exception. */
export async function runProgram (program: string, args: string[], options: { cwd?: string, env?: NodeJS.ProcessEnv, timeoutMs?: number, input?: string } = {}): Promise<Outcome> {
  return await new Promise((resolve) => {
    const child = execFile(program, args, { cwd: options.cwd ?? projectRoot, env: options.env ?? process.env, timeout: options.timeoutMs ?? 120_000, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => resolve({ code: error ? (typeof error.code === 'number' ? error.code : null) : 0, stdout, stderr }))
    // A program that exits before reading its input closes the pipe: not a failure of ours.
    child.stdin?.on('error', () => {})
    child.stdin?.end(options.input ?? '')
  })
}

/**
 * The environment for a tool run on the embedded database in `dataDir`: this process's, without
 * any database URL it may carry (a developer's, CI's), so only the embedded server can be used.
 */
export function embeddedToolEnv (dataDir: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const { DATABASE_URL: _url, DIRECT_DATABASE_URL: _direct, SHADOW_DATABASE_URL: _shadow, EMBEDDED_DATABASE_PORT: _port, ...rest } = process.env
  return { ...rest, DATABASE_URL: '', DIRECT_DATABASE_URL: '', EMBEDDED_DATABASE_PORT: '', EMBEDDED_DATABASE_DIR: dataDir, NO_COLOR: '1', CHECKPOINT_DISABLE: '1', PRISMA_HIDE_UPDATE_MESSAGE: '1', ...extra }
}

/** The Prisma CLI, run with this Node from the project root (or `cwd`), as `npx prisma` would. */
export const prismaCli = join(projectRoot, 'node_modules', 'prisma', 'build', 'index.js')

/** The PostgreSQL running on a data folder, from its postmaster.pid, or null. */
export async function runningPostmaster (dataDir: string): Promise<{ pid: number, port: number } | null> {
  try {
    const lines = (await readFile(join(dataDir, 'postmaster.pid'), 'utf8')).split('\n')
    const pid = Number(lines[0])
    try { process.kill(pid, 0) } catch (error) { if ((error as NodeJS.ErrnoException).code === 'ESRCH') return null }
    return { pid, port: Number(lines[3]) }
  } catch {
    return null
  }
}

/** Whether anything accepts connections on 127.0.0.1:port. */
export const listening = (port: number) => new Promise<boolean>((resolve) => {
  const socket = connect(port, '127.0.0.1')
  socket.once('connect', () => { socket.destroy(); resolve(true) })
  socket.once('error', () => resolve(false))
})

/**
 * A copy of the project to change freely (its schema, its methods): the sources, scripts and
 * Prisma files are copied, node_modules and tools are linked. Nothing it does reaches the
 * repository.
 */
export async function projectCopy () {
  const folder = await scratchFolder('project')
  for (const entry of ['src', 'scripts', 'prisma', 'prisma.config.ts', 'package.json', 'tsconfig.json']) {
    await cp(join(projectRoot, entry), join(folder.path, entry), { recursive: true })
  }
  for (const entry of ['node_modules', 'tools']) await symlink(join(projectRoot, entry), join(folder.path, entry))
  return folder
}
