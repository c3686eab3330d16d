import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort } from '../src/db/embedded-postgres.js'
import { projectRoot } from '../src/paths.js'

/** The built service, as `npm start` runs it. */
const entry = join(projectRoot, 'dist', 'server.js')

export type LogLine = Record<string, unknown> & { msg?: string, level?: number }

export interface ServiceChild {
  child: ChildProcess
  pid: number
  port: number
  /** Every JSON log line so far, in order. */
  lines: LogLine[]
  /** The exit code (null when killed by a signal). */
  exited: Promise<number | null>
  /** Resolves with the first log line (from now on, or already seen) whose msg is `msg`. */
  logged: (msg: string, timeoutMs?: number) => Promise<LogLine>
  /** Whether the process is still running. */
  running: () => boolean
}

const started = new Set<ChildProcess>()

/** SIGKILLs every service child a test left running (for afterAll). */
export function killLeftoverServices () {
  for (const child of started) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
}

/**
 * Starts `node dist/server.js` from a temporary folder (no developer `.env` counts) on a
 * free port with only the given settings, and resolves once it logs that it is ready.
 */
export async function startServiceChild (env: Record<string, string>, readyTimeoutMs = 120_000): Promise<ServiceChild> {
  if (!existsSync(entry)) throw new Error('dist/server.js is missing: run `npm run build` (npm test does)')
  const port = await freePort()
  const child = spawn(process.execPath, [entry], {
    cwd: tmpdir(),
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', HOST: '127.0.0.1', PORT: String(port), LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  started.add(child)
  const lines: LogLine[] = []
  const waiters: Array<{ msg: string, resolve: (line: LogLine) => void }> = []
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  let stderr = ''
  child.stderr?.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  let buffered = ''
  child.stdout?.on('data', (chunk: Buffer) => {
    buffered += chunk.toString()
    const complete = buffered.split('\n')
    buffered = complete.pop() ?? ''
    for (const text of complete) {
      let line: LogLine
      try {
        line = JSON.parse(text) as LogLine
      } catch {
        continue
      }
      lines.push(line)
      for (const waiter of waiters.filter((one) => one.msg === line.msg)) {
        waiters.splice(waiters.indexOf(waiter), 1)
        waiter.resolve(line)
      }
    }
  })

  const logged = (msg: string, timeoutMs = 60_000) => {
    const seen = lines.find((line) => line.msg === msg)
    if (seen) return Promise.resolve(seen)
    return new Promise<LogLine>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no "${msg}" log line within ${timeoutMs} ms; last lines: ${lines.slice(-5).map((line) => line.msg).join(' | ')}`)), timeoutMs)
      waiters.push({ msg, resolve: (line) => { clearTimeout(timer); resolve(line) } })
    })
  }

  await Promise.race([
    logged('user-rpc ready', readyTimeoutMs),
    exited.then((code) => { throw new Error(`the service exited with ${code} before it was ready: ${stderr}${lines.slice(-3).map((line) => JSON.stringify(line)).join('\n')}`) }),
  ])
  return {
    child,
    pid: child.pid as number,
    port,
    lines,
    exited,
    logged,
    running: () => child.exitCode === null && child.signalCode === null,
  }
}

/** The superuser URL of an embedded data folder's application database, on the given port. */
export function embeddedDatabaseUrl (dir: string, port: number): string {
  const password = readFileSync(join(dir, 'user-rpc.password'), 'utf8').trim()
  return `postgresql://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/user_rpc`
}

/** GET a path on the service; the status, or 0 when nothing answers. */
export async function probe (port: number, path: string): Promise<number> {
  try {
    return (await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(10_000) })).status
  } catch {
    return 0
  }
}
