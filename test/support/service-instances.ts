import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { connect, createServer, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort } from '../../scripts/postgres-topology.js'
import { projectRoot } from '../../src/paths.js'

/**
 * The built service as separate processes (a single instance, or a cluster's primary and
 * its workers), as an operator runs it: `node dist/server.js` from a temporary folder (so a
 * developer's `.env` does not count) with only the given settings. Every JSON log line is
 * kept, so tests wait on exact events (a worker listening, a replica going down) rather
 * than on time.
 */

const entry = join(projectRoot, 'dist', 'server.js')

export type LogLine = Record<string, unknown> & { msg?: string, worker?: number }

export interface RpcAnswer {
  status: number
  body: { result?: any, error?: { code: number, message: string, data?: unknown } }
}

export interface ServiceInstance {
  port: number
  base: string
  pid: number
  lines: LogLine[]
  exited: Promise<number | null>
  /** One JSON-RPC call on a fresh connection (so a cluster spreads them over its workers). */
  call: (method: string, params?: unknown, headers?: Record<string, string>) => Promise<RpcAnswer>
  get: (path: string) => Promise<{ status: number, text: string }>
  /** The first log line (already written or still to come) that matches; rejects after `timeoutMs`. */
  waitForLine: (matches: (line: LogLine) => boolean, timeoutMs?: number) => Promise<LogLine>
  /** SIGTERM, then the exit code. */
  stop: () => Promise<number | null>
}

const running = new Set<ChildProcess>()
process.once('exit', () => { for (const child of running) child.kill('SIGKILL') })

/** Kills whatever a test left running (afterAll). */
export function killLeftovers () {
  for (const child of running) child.kill('SIGKILL')
}

/** The line a single instance, or a cluster's primary, writes once it serves. */
const isReady = (line: LogLine) => line.msg === 'user-rpc ready' && line.worker === undefined

export async function startInstance (env: Record<string, string>, { port }: { port?: number } = {}): Promise<ServiceInstance> {
  if (!existsSync(entry)) throw new Error('dist/server.js is missing: run `npm run build` (npm test does)')
  const listenPort = port ?? await freePort()
  const child = spawn(process.execPath, [entry], {
    cwd: tmpdir(),
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', HOST: '127.0.0.1', PORT: String(listenPort), LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  running.add(child)
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => { running.delete(child); resolve(code) }))
  const lines: LogLine[] = []
  const watchers = new Set<(line: LogLine) => void>()
  let stderr = ''
  let buffered = ''
  child.stderr?.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
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
      for (const watcher of watchers) watcher(line)
    }
  })

  const waitForLine = (matches: (line: LogLine) => boolean, timeoutMs = 30_000) => {
    const found = lines.find(matches)
    if (found) return Promise.resolve(found)
    return new Promise<LogLine>((resolve, reject) => {
      const timer = setTimeout(() => {
        watchers.delete(watcher)
        reject(new Error(`no such log line within ${timeoutMs} ms; stderr: ${stderr.slice(-2000)}`))
      }, timeoutMs)
      const watcher = (line: LogLine) => {
        if (!matches(line)) return
        clearTimeout(timer)
        watchers.delete(watcher)
        resolve(line)
      }
      watchers.add(watcher)
    })
  }

  await Promise.race([
    waitForLine(isReady, 120_000),
    exited.then((code) => { throw new Error(`the service exited with ${code} before it was ready: ${stderr.slice(-4000)}`) }),
  ])

  const base = `http://127.0.0.1:${listenPort}`
  return {
    port: listenPort,
    base,
    pid: child.pid ?? 0,
    lines,
    exited,
    waitForLine,
    call: async (method, params, headers = {}) => {
      const response = await fetch(`${base}/rpc`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', connection: 'close', ...headers },
        body: JSON.stringify({ jsonrpc: '2.0', method, ...(params === undefined ? {} : { params }), id: 1 }),
      })
      return { status: response.status, body: await response.json() as RpcAnswer['body'] }
    },
    get: async (path) => {
      const response = await fetch(`${base}${path}`, { headers: { connection: 'close' } })
      return { status: response.status, text: await response.text() }
    },
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
      return await exited
    },
  }
}

/** The sum of a metric's samples whose labels include `labels`, from Prometheus text. */
export function metricValue (text: string, name: string, labels: Record<string, string> = {}): number {
  let total = 0
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (!match || match[1] !== name) continue
    const found = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((pair) => [pair[1], pair[2]]))
    if (Object.entries(labels).every(([key, value]) => found[key] === value)) total += Number(match[3])
  }
  return total
}

/** What a PostgreSQL client sent through a WireRecorder. */
export interface WireRecord {
  /** Each connection's startup parameters (user, database, application_name, …). */
  startups: Array<Record<string, string>>
  /** Every statement text, from simple-protocol Query and extended-protocol Parse messages. */
  statements: string[]
  /** Names given to prepared statements (Parse with a name); empty when all are unnamed. */
  statementNames: string[]
}

/**
 * A TCP relay in front of a PostgreSQL server (or PgBouncer) that records what clients
 * send: the startup packet's parameters and every statement. It reads the frontend side
 * of the protocol only, and forwards every byte unchanged both ways.
 */
export async function startWireRecorder (targetPort: number) {
  const record: WireRecord = { startups: [], statements: [], statementNames: [] }
  const sockets = new Set<Socket>()
  const server = createServer((client) => {
    const upstream = connect(targetPort, '127.0.0.1')
    sockets.add(client)
    sockets.add(upstream)
    client.on('close', () => { sockets.delete(client); upstream.destroy() })
    upstream.on('close', () => { sockets.delete(upstream); client.destroy() })
    client.on('error', () => upstream.destroy())
    upstream.on('error', () => client.destroy())
    upstream.pipe(client)
    let pending = Buffer.alloc(0)
    let started = false
    client.on('data', (chunk: Buffer) => {
      upstream.write(chunk)
      pending = Buffer.concat([pending, chunk])
      for (;;) {
        if (!started) {
          if (pending.length < 8) return
          const length = pending.readInt32BE(0)
          if (pending.length < length) return
          const code = pending.readInt32BE(4)
          if (code === 196608) record.startups.push(startupParameters(pending.subarray(8, length)))
          // SSLRequest and GSSENCRequest come before the real startup packet.
          else if (code === 80877103 || code === 80877104) { pending = pending.subarray(length); continue }
          started = true
          pending = pending.subarray(length)
          continue
        }
        if (pending.length < 5) return
        const length = pending.readInt32BE(1)
        if (pending.length < length + 1) return
        const type = String.fromCharCode(pending[0] ?? 0)
        const body = pending.subarray(5, length + 1)
        if (type === 'Q') record.statements.push(cString(body, 0).text)
        if (type === 'P') {
          const name = cString(body, 0)
          record.statements.push(cString(body, name.next).text)
          if (name.text !== '') record.statementNames.push(name.text)
        }
        pending = pending.subarray(length + 1)
      }
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  const port = typeof address === 'object' && address ? address.port : 0
  return {
    port,
    record,
    close: async () => {
      for (const socket of sockets) socket.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

function cString (buffer: Buffer, start: number) {
  const end = buffer.indexOf(0, start)
  return { text: buffer.toString('utf8', start, end), next: end + 1 }
}

function startupParameters (body: Buffer): Record<string, string> {
  const parameters: Record<string, string> = {}
  let offset = 0
  for (;;) {
    const key = cString(body, offset)
    if (key.text === '') break
    const value = cString(body, key.next)
    parameters[key.text] = value.text
    offset = value.next
  }
  return parameters
}
