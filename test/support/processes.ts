import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { pathToFileURL } from 'node:url'
import { projectRoot } from '../../src/paths.js'
import type { LogLine } from './clients.js'

/**
 * Processes: the built service (`node --import dist/telemetry.js dist/server.js`, as `npm start`
 * and the container run it) started, read and stopped, the build's freshness, and Python callers. Nothing here
 * imports vitest, so the global setup can use it too.
 */

const entry = join(projectRoot, 'dist', 'server.js')
/** The tracing preload; it loads nothing unless OTEL_* variables ask for traces. */
const preload = pathToFileURL(join(projectRoot, 'dist', 'telemetry.js')).href

function * sourceFiles (folder: string): Generator<string> {
  for (const item of readdirSync(folder, { withFileTypes: true })) {
    const path = join(folder, item.name)
    if (item.isDirectory()) yield * sourceFiles(path)
    else if (path.endsWith('.ts') && !path.endsWith('.d.ts')) yield path
  }
}

/** Why dist/ does not match src/ (a source newer than its output, or missing), or undefined. */
export function staleBuild (): string | undefined {
  const schema = join(projectRoot, 'prisma', 'schema.prisma')
  const generated = join(projectRoot, 'src', 'generated', 'prisma', 'client.ts')
  if (!existsSync(generated)) return 'the Prisma client is not generated'
  if (statSync(generated).mtimeMs < statSync(schema).mtimeMs) return 'prisma/schema.prisma is newer than the generated client'
  const src = join(projectRoot, 'src')
  for (const source of sourceFiles(src)) {
    const output = join(projectRoot, 'dist', relative(src, source).replace(/\.ts$/, '.js'))
    if (!existsSync(output)) return `${relative(projectRoot, output)} is missing`
    if (statSync(output).mtimeMs < statSync(source).mtimeMs) return `${relative(projectRoot, source)} is newer than ${relative(projectRoot, output)}`
  }
  return undefined
}

/**
 * Builds (`npm run build`) when dist/ is older than src/, so the process tests never run a
 * stale build; `npm test` has just built, so nothing happens then. A failed build is printed
 * and not thrown: the other tests still run, and the process tests say why they cannot.
 */
export function buildIfStale (): void {
  const reason = staleBuild()
  if (!reason) return
  console.log(`dist/ is stale (${reason}): npm run build`)
  const build = spawnSync('npm', ['run', 'build', '--silent'], { cwd: projectRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
  if (build.status !== 0) console.error(`npm run build failed:\n${build.stdout}${build.stderr}`)
}

function assertFreshBuild () {
  const reason = staleBuild()
  if (reason) throw new Error(`dist/ is stale (${reason}): run \`npm run build\` (a test run builds when it starts; this one could not, or src/ changed since)`)
}

/**
 * Settings every service under test starts with, in-process or built, unless a test sets them:
 * bounds that exist to protect production must not be hit by accident on a loaded machine
 * (a connection that takes 2 s to open, a readiness query that takes 1 s). The tests of those
 * bounds set them low themselves.
 */
export const unhurriedLimits = {
  DATABASE_CONNECT_TIMEOUT_MS: '30000',
  TX_MAX_WAIT_MS: '30000',
  TX_TIMEOUT_MS: '60000',
  READINESS_TIMEOUT_MS: '30000',
}

/** Only these variables reach the service, so the developer's own environment does not count. */
const baseEnvironment = () => ({ PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', HOST: '127.0.0.1', LOG_LEVEL: 'info', ...unhurriedLimits })

interface Spawned {
  child: ChildProcess
  lines: LogLine[]
  output: () => { stdout: string, stderr: string }
  exited: Promise<number | null>
}

const running = new Set<ChildProcess>()

/** Spawns the built service from a temporary folder (so a `.env` in the project does not count). */
function spawnService (env: Record<string, string>): Spawned {
  assertFreshBuild()
  const child = spawn(process.execPath, ['--import', preload, entry], { cwd: tmpdir(), env: { ...baseEnvironment(), ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  running.add(child)
  const lines: LogLine[] = []
  let stdout = ''
  let stderr = ''
  let partial = ''
  child.stdout?.on('data', (chunk: Buffer) => {
    stdout += chunk.toString()
    const complete = (partial + chunk.toString()).split('\n')
    partial = complete.pop() ?? ''
    for (const line of complete) {
      try {
        lines.push(JSON.parse(line) as LogLine)
      } catch { /* not a log line */ }
    }
  })
  child.stderr?.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => { running.delete(child); resolve(code) }))
  return { child, lines, output: () => ({ stdout, stderr }), exited }
}

export interface ServiceProcess {
  pid: number
  /** The port it listens on, as it reported it (it binds port 0). */
  port: number
  url: string
  lines: LogLine[]
  exited: Promise<number | null>
  /** Whether it is still running. */
  running: () => boolean
  signal: (signal: NodeJS.Signals) => void
  /** Resolves with the first log line (already logged or still to come) that matches. */
  waitForLine: (what: string, matches: (line: LogLine) => boolean) => Promise<LogLine>
  /** SIGTERM, then the exit code. */
  stop: () => Promise<number | null>
}

const addressInUse = (text: string) => /EADDRINUSE|Address already in use|could not bind/i.test(text)

/**
 * Starts the built service on a port it picks itself (PORT=0, read back from its log) and
 * resolves once it logs that it is ready. An embedded PostgreSQL picks its port before it
 * binds it, so a start that fails because that port was taken meanwhile is tried again.
 */
export async function startService (env: Record<string, string>): Promise<ServiceProcess> {
  for (let attempt = 1; ; attempt++) {
    const spawned = spawnService({ PORT: '0', ...env })
    const { child, lines, exited } = spawned
    const watchers = new Set<() => void>()
    child.stdout?.on('data', () => { for (const check of watchers) check() })
    const waitForLine = (what: string, matches: (line: LogLine) => boolean) => new Promise<LogLine>((resolve, reject) => {
      const check = () => {
        const found = lines.find(matches)
        if (found) { watchers.delete(check); resolve(found) }
      }
      watchers.add(check)
      check()
      exited.then((code) => { watchers.delete(check); reject(new Error(`the service exited with ${code} before it logged ${what}: ${spawned.output().stderr}`)) })
    })
    try {
      // With WORKERS > 1 each worker says it too; the primary's line (no worker) comes once all listen.
      await waitForLine('that it is ready', (line) => line.msg === 'user-rpc ready' && line.worker === undefined)
    } catch (error) {
      const { stdout, stderr } = spawned.output()
      if (attempt < 3 && addressInUse(stdout + stderr)) continue
      throw new Error(`${(error as Error).message}\n${stdout}`)
    }
    const listening = lines.find((line) => String(line.msg).startsWith('Server listening at '))
    const port = Number(new URL(String(listening?.msg).slice('Server listening at '.length)).port)
    return {
      pid: child.pid as number,
      port,
      url: `http://127.0.0.1:${port}`,
      lines,
      exited,
      running: () => child.exitCode === null && child.signalCode === null,
      signal: (signal) => { child.kill(signal) },
      waitForLine,
      stop: async () => {
        child.kill('SIGTERM')
        return await exited
      },
    }
  }
}

/** Runs the built service until it exits on its own (a start-up that fails); its code and output. */
export async function runServiceToExit (env: Record<string, string>) {
  const spawned = spawnService(env)
  const code = await spawned.exited
  return { code, lines: spawned.lines, ...spawned.output() }
}

/** The superuser URL of an embedded data folder's application database, on the given port. */
export function embeddedDatabaseUrl (dir: string, port: number): string {
  const password = readFileSync(join(dir, 'user-rpc.password'), 'utf8').trim()
  return `postgresql://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/user_rpc`
}

/** Kills whatever a test left running (for afterAll). */
export function killLeftoverServices () {
  for (const child of running) child.kill('SIGKILL')
}

/** Debian's Python, whose standard library holds the ServerProxy the old callers use. */
export const PYTHON = '/usr/bin/python3'

export interface PythonRun {
  code: number | null
  stdout: string
  stderr: string
}

/** Runs a Python script with Debian's python3 and a clean environment. */
export async function runPython (script: string, args: string[], env: Record<string, string> = {}): Promise<PythonRun> {
  if (!existsSync(PYTHON)) throw new Error(`${PYTHON} is missing: the XML-RPC caller tests need Debian's python3`)
  const child = spawn(PYTHON, [script, ...args], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  // Not an assertion: a caller that hangs must not outlive the run.
  const guard = setTimeout(() => child.kill('SIGKILL'), 60_000)
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve))
  clearTimeout(guard)
  return { code, stdout, stderr }
}
