import { Agent, request as httpRequest } from 'node:http'
import type { Socket } from 'node:net'
import { Writable } from 'node:stream'
import { pino } from 'pino'
import { buildApp } from '../../src/app.js'
import { loadConfig } from '../../src/config.js'
import { testDatabaseUrl, uniqueName, withApplicationName } from './database.js'
import { unhurriedLimits } from './processes.js'

/**
 * Clients: the service built in-process from its configuration (the same `buildApp` the
 * process runs), and every way a test talks to it: `app.inject`, `fetch` over a real socket,
 * node:http on a keep-alive socket it controls, and /metrics. The typed client is the
 * package in packages/client (`@user-rpc/client`); XML-RPC bodies are in xmlrpc-client.ts.
 */

export type App = Awaited<ReturnType<typeof buildApp>>

/** One pino line, parsed. */
export type LogLine = Record<string, unknown> & { level: number, msg?: string }

export type TestApp = App & {
  /** The application_name on its database connections: its backends in pg_stat_activity. */
  readonly applicationName: string
  /** Every line it has logged, parsed, at trace level (nothing is filtered out). */
  readonly logLines: LogLine[]
}

export interface TestAppOptions {
  /** Another database URL than the test database (a proxy, a refusing address...). */
  databaseUrl?: string
}

/**
 * The service on the test database, configured from `env` as the process would be (over
 * `unhurriedLimits`), with its log captured. TEST_LOG=1 also prints the log.
 */
export async function buildTestApp (env: Record<string, string> = {}, options: TestAppOptions = {}): Promise<TestApp> {
  const applicationName = uniqueName('user-rpc-test')
  const databaseUrl = withApplicationName(options.databaseUrl ?? testDatabaseUrl(), applicationName)
  const logLines: LogLine[] = []
  const sink = new Writable({
    write (chunk: Buffer, _encoding, done) {
      if (process.env.TEST_LOG) process.stdout.write(chunk)
      for (const line of chunk.toString().split('\n')) if (line) logLines.push(JSON.parse(line) as LogLine)
      done()
    },
  })
  const config = loadConfig({ NODE_ENV: 'test', ...unhurriedLimits, DATABASE_URL: databaseUrl, ...env })
  const app = await buildApp({ config, databaseUrl, logger: pino({ level: 'trace' }, sink) })
  await app.ready()
  return Object.assign(app, { applicationName, logLines })
}

/** A JSON-RPC request object; no id makes it a notification. */
export const request = (method: string, params?: unknown, id?: string | number | null) =>
  ({ jsonrpc: '2.0', method, ...(params === undefined ? {} : { params }), ...(id === undefined ? {} : { id }) })

export interface Answer {
  status: number
  headers: Record<string, string | string[] | number | undefined>
  /** The parsed JSON body; null when there is none (204). */
  body: any
}

const parse = (text: string) => text ? JSON.parse(text) : null

/** Posts a body to /rpc through app.inject: JSON text as it is, anything else as JSON. */
export async function post (app: App, body: unknown, headers: Record<string, string> = {}, url = '/rpc'): Promise<Answer> {
  const response = await app.inject({
    method: 'POST',
    url,
    headers: { 'content-type': 'application/json', ...headers },
    payload: typeof body === 'string' ? body : JSON.stringify(body),
  })
  return { status: response.statusCode, headers: response.headers, body: parse(response.body) }
}

/** One JSON-RPC call through app.inject. */
export const call = (app: App, method: string, params?: unknown, id: string | number = 1, headers: Record<string, string> = {}) =>
  post(app, request(method, params, id), headers)

/** Listens on a port the system picks (port 0) and returns the base URL it got. */
export const listen = async (app: App): Promise<string> => await app.listen({ host: '127.0.0.1', port: 0 })

/** Posts a body with fetch over a real socket. */
export async function fetchRpc (url: string, body: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  })
  return { status: response.status, headers: response.headers, body: parse(await response.text()) }
}

export interface HttpExchange {
  /** The answer; rejects if the exchange is aborted or the socket fails. */
  response: Promise<Answer>
  /** The socket the request went out on. */
  socket: Promise<Socket>
  /** Leaves: destroys the request and its socket, as a client that gives up. */
  abort: () => void
}

/**
 * A POST with node:http, which shows every response header (Connection included) and can
 * reuse one keep-alive socket through `agent`, or leave mid-call with `abort`.
 */
export function httpPost (url: string, body: unknown, options: { agent?: Agent, headers?: Record<string, string> } = {}): HttpExchange {
  const payload = typeof body === 'string' ? body : JSON.stringify(body)
  const outgoing = httpRequest(url, {
    method: 'POST',
    agent: options.agent,
    headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload), ...options.headers },
  })
  const socket = new Promise<Socket>((resolve) => outgoing.once('socket', resolve))
  const response = new Promise<Answer>((resolve, reject) => {
    outgoing.once('error', reject)
    outgoing.once('response', (incoming) => {
      let text = ''
      incoming.setEncoding('utf8')
      incoming.on('data', (chunk: string) => { text += chunk })
      incoming.once('end', () => resolve({ status: incoming.statusCode ?? 0, headers: incoming.headers, body: parse(text) }))
      incoming.once('error', reject)
    })
  })
  response.catch(() => {})
  outgoing.end(payload)
  return { response, socket, abort: () => outgoing.destroy() }
}

/** A keep-alive agent with one socket, so consecutive requests share a connection. */
export const keepAliveAgent = () => new Agent({ keepAlive: true, maxSockets: 1 })

/** Reads one series from /metrics (0 when absent), e.g. `rpc_calls_total{method="user.get",...}`. */
export async function readMetric (app: App, series: string, token?: string): Promise<number> {
  const response = await app.inject({ method: 'GET', url: '/metrics', headers: token ? { authorization: `Bearer ${token}` } : {} })
  if (response.statusCode !== 200) throw new Error(`/metrics answered ${response.statusCode}`)
  const line = response.body.split('\n').find((row) => row.startsWith(`${series} `))
  return line ? Number(line.slice(series.length + 1)) : 0
}

/** The "rpc call" lines an app logged: one per call. */
export const callLines = (app: TestApp) => app.logLines.filter((line) => line.msg === 'rpc call')

/**
 * One JSON-RPC call to a running service over fetch on a connection of its own (Connection:
 * close), so a cluster's workers or a load balancer's instances each get their share.
 */
export const callOnNewConnection = (url: string, method: string, params?: unknown, headers: Record<string, string> = {}) =>
  fetchRpc(`${url}/rpc`, request(method, params, 1), { connection: 'close', ...headers })

/** GET a path of a running service on a connection of its own; its status and text. */
export async function getOnNewConnection (url: string, path: string): Promise<{ status: number, text: string }> {
  const response = await fetch(`${url}${path}`, { headers: { connection: 'close' } })
  return { status: response.status, text: await response.text() }
}

/** The sum of a metric's samples whose labels include `labels`, from Prometheus text (0 when none). */
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
