import { Agent, request as httpRequest } from 'node:http'
import { connect, type Socket } from 'node:net'
import { Writable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import { pino } from 'pino'
import { afterAll } from 'vitest'
import { buildApp, type AppOptions } from '../../src/app.js'
import { loadConfig } from '../../src/config.js'
import { ErrorCode } from '../../src/rpc/errors.js'
import { testDatabaseUrl, uniqueName, withApplicationName, type Session } from './database.js'
import { unhurriedLimits } from './processes.js'

/**
 * Clients: the service built in-process from its configuration (the same `buildApp` the
 * process runs), and every way a test talks to it: `app.inject`, `fetch` over a real socket,
 * node:http on a keep-alive socket it controls, raw bytes on a socket of its own (hostile
 * input), closed-loop create load that records every outcome, and /metrics. The typed client is
 * the package in packages/client (`@user-rpc/client`); XML-RPC bodies are in xmlrpc-client.ts.
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
  /** What GET /metrics renders, as buildApp takes it (in production, the workers' aggregate). */
  shareMetrics?: AppOptions['shareMetrics']
  /** Runs before the app is ready, for a route of the test's own. */
  beforeReady?: (app: App) => void
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
  const app = await buildApp({ config, databaseUrl, logger: pino({ level: 'trace' }, sink), shareMetrics: options.shareMetrics })
  options.beforeReady?.(app)
  await app.ready()
  return Object.assign(app, { applicationName, logLines })
}

/**
 * The apps and outside sessions a file (or a describe) opens, all ended after its tests:
 * the sessions first, rolled back, so that no app's close waits on a row they hold.
 */
export function endedAfterAll () {
  const apps: TestApp[] = []
  const sessions: Session[] = []
  afterAll(async () => {
    for (const session of sessions) await session.end('ROLLBACK')
    for (const app of apps) await app.close()
  })
  return {
    /** buildTestApp, closed after the tests. */
    service: async (env: Record<string, string> = {}, options: TestAppOptions = {}) => {
      const app = await buildTestApp(env, options)
      apps.push(app)
      return app
    },
    /** Ends `session` after the tests, whatever they left it doing. */
    kept: <S extends Session>(session: S): S => {
      sessions.push(session)
      return session
    },
  }
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

/** GET a path on a service over a real socket; the status, or 0 when nothing answers. */
export async function probe (url: string, path: string): Promise<number> {
  try {
    return (await fetch(`${url}${path}`, { signal: AbortSignal.timeout(10_000) })).status
  } catch {
    return 0
  }
}

// Raw HTTP: bytes as they are sent and come back, for input no well-behaved client would send.

/** One HTTP answer read off a socket, as the bytes came. */
export interface RawAnswer {
  status: number
  headers: Record<string, string>
  body: string
}

/**
 * Sends `request` byte for byte on a new connection to 127.0.0.1 and reads one answer (the
 * server closes after it: requests ask for `Connection: close`). Rejects when no whole
 * answer comes within `timeoutMs`, so a hang is a failure, not a stuck test.
 */
export function exchange (port: number, request: Buffer | string, timeoutMs = 15_000): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
    const chunks: Buffer[] = []
    const timer = setTimeout(() => {
      socket.destroy()
      reject(new Error(`no answer within ${timeoutMs} ms`))
    }, timeoutMs)
    socket.on('data', (chunk: Buffer) => chunks.push(chunk))
    socket.on('error', () => { /* 'close' follows */ })
    socket.on('close', () => {
      clearTimeout(timer)
      const answer = parseAnswer(Buffer.concat(chunks))
      if (answer) resolve(answer)
      else reject(new Error(`the connection closed without a whole answer (${chunks.length ? Buffer.concat(chunks).toString('latin1', 0, 80) : 'nothing received'})`))
    })
    socket.write(request)
  })
}

/** A POST to /rpc with the given body bytes, as an HTTP/1.1 client would frame it. */
export function postRequest (body: Buffer | string, headers: Record<string, string> = {}): Buffer {
  const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body
  const head = Object.entries({ 'content-type': 'application/json', ...headers })
    .map(([name, value]) => `${name}: ${value}\r\n`).join('')
  return Buffer.concat([
    Buffer.from(`POST /rpc HTTP/1.1\r\nhost: 127.0.0.1\r\n${head}content-length: ${bytes.length}\r\nconnection: close\r\n\r\n`, 'latin1'),
    bytes,
  ])
}

function parseAnswer (bytes: Buffer): RawAnswer | null {
  const headEnd = bytes.indexOf('\r\n\r\n')
  if (headEnd < 0) return null
  const [statusLine = '', ...lines] = bytes.toString('latin1', 0, headEnd).split('\r\n')
  const status = Number(/^HTTP\/1\.1 (\d{3}) /.exec(statusLine)?.[1])
  if (!status) return null
  const headers = Object.fromEntries(lines.map((line) => {
    const colon = line.indexOf(':')
    return [line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim()]
  }))
  const length = headers['content-length'] === undefined ? undefined : Number(headers['content-length'])
  const body = bytes.subarray(headEnd + 4)
  if (length !== undefined && body.length !== length) return null
  return { status, headers, body: body.toString('utf8') }
}

const CODES = new Set<number>(Object.values(ErrorCode))
const RESPONSE_MEMBERS = new Set(['jsonrpc', 'id', 'result', 'error'])

/** Why a value is not a JSON-RPC 2.0 response object with a documented error code, or null. */
export function responseProblem (value: unknown): string | null {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'not an object'
  const response = value as Record<string, unknown>
  const extra = Object.keys(response).filter((key) => !RESPONSE_MEMBERS.has(key))
  if (extra.length > 0) return `unexpected members ${extra.join(', ')}`
  if (response.jsonrpc !== '2.0') return 'jsonrpc is not "2.0"'
  if (!Object.hasOwn(response, 'id')) return 'no id'
  const { id } = response
  if (!(typeof id === 'string' || typeof id === 'number' || id === null)) return `id ${JSON.stringify(id)} is not a string, number or null`
  if (Object.hasOwn(response, 'result') === Object.hasOwn(response, 'error')) return 'not exactly one of result and error'
  if (Object.hasOwn(response, 'error')) {
    const error = response.error as Record<string, unknown> | null
    if (typeof error !== 'object' || error === null) return 'error is not an object'
    if (!Number.isInteger(error.code) || !CODES.has(error.code as number)) return `error code ${String(error.code)} is not a documented one`
    if (typeof error.message !== 'string') return 'error message is not a string'
    if (Object.keys(error).some((key) => !['code', 'message', 'data'].includes(key))) return 'error has unexpected members'
  }
  return null
}

/** The transport refusals docs/api.md documents, each with a JSON-RPC error body (id null). */
export const REFUSAL_STATUSES = new Set([400, 405, 408, 413, 415, 431])

/**
 * Why an HTTP answer to a POST on /rpc is not one docs/api.md allows, or null: 200 with a
 * JSON-RPC response or a non-empty batch of them, 204 with nothing, or a documented refusal
 * carrying a -32600 error with id null. Never a 5xx, never another shape.
 */
export function answerProblem (answer: RawAnswer): string | null {
  if (answer.status === 204) return answer.body === '' ? null : '204 with a body'
  if (answer.status !== 200 && !REFUSAL_STATUSES.has(answer.status)) return `HTTP ${answer.status}`
  if (!/^application\/json\b/.test(answer.headers['content-type'] ?? '')) return `content type ${answer.headers['content-type']}`
  let body: unknown
  try {
    body = JSON.parse(answer.body)
  } catch {
    return `the body is not JSON: ${answer.body.slice(0, 80)}`
  }
  if (answer.status !== 200) {
    const problem = responseProblem(body)
    if (problem) return `HTTP ${answer.status}: ${problem}`
    const { id, error } = body as { id: unknown, error?: { code: number } }
    return id === null && error?.code === ErrorCode.InvalidRequest ? null : `HTTP ${answer.status} without a -32600 error and id null`
  }
  if (Array.isArray(body)) {
    if (body.length === 0) return 'an empty batch answer'
    for (const [index, member] of body.entries()) {
      const problem = responseProblem(member)
      if (problem) return `batch member ${index}: ${problem}`
    }
    return null
  }
  return responseProblem(body)
}

// Write load: closed-loop creates whose every outcome is recorded, for crash and outage tests.
/**
 * What became of one create, as its client saw it: `ok` (answered with the user), the error
 * code it was answered with, `refused` (no connection: the request never reached a server),
 * `lost` (sent, then the connection ended with no answer: it may or may not have run), or
 * `hung` (no answer within the call's time limit).
 */
export type Outcome = 'ok' | number | 'refused' | 'lost' | 'hung'

export interface CreateRecord {
  login: string
  outcome: Outcome
  /** performance.now() when sent and when settled. */
  sentAt: number
  settledAt: number
}

export interface WriteLoad {
  records: CreateRecord[]
  /** Resolves once `count` creates sent after `since` are acknowledged. */
  acknowledged: (count: number, since?: number, timeoutMs?: number) => Promise<void>
  /** Stops the loops and waits for the calls in flight. */
  stop: () => Promise<void>
}

export interface WriteLoadOptions {
  /** The service, e.g. http://127.0.0.1:8000. */
  baseUrl: string
  /** Unique to the test: every login starts with it. */
  prefix: string
  clients?: number
  /** Clients (of `clients`) that send batches of five creates instead of one. */
  batchClients?: number
  callTimeoutMs?: number
}

const BATCH = 5

/**
 * Closed-loop clients creating users with unique logins as fast as the service answers, over
 * keep-alive connections (undici never retries a POST, so a create is sent exactly once),
 * recording every outcome. After a failure a client waits 20 ms, so an outage does not turn
 * into a busy loop.
 */
export function startWriteLoad (options: WriteLoadOptions): WriteLoad {
  const { baseUrl, prefix, clients = 4, batchClients = 0, callTimeoutMs = 30_000 } = options
  const url = `${baseUrl}/rpc`
  const records: CreateRecord[] = []
  let stopping = false

  async function send (logins: string[], batch: boolean) {
    const calls = logins.map((login, index) => ({ jsonrpc: '2.0', method: 'user.create', params: { login }, id: index }))
    const sentAt = performance.now()
    let outcomes: Outcome[]
    try {
      const response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(batch ? calls : calls[0]),
        signal: AbortSignal.timeout(callTimeoutMs),
      })
      const text = await response.text()
      if (response.status !== 200) throw Object.assign(new Error(`HTTP ${response.status}`), { status: response.status })
      const body = JSON.parse(text) as unknown
      const answers = (Array.isArray(body) ? body : [body]) as Array<{ id: number, result?: { login: string }, error?: { code: number } }>
      outcomes = logins.map((login, index) => {
        const answer = answers.find((one) => one.id === index)
        if (!answer) return -1
        if (answer.result) return answer.result.login === login ? 'ok' : -1
        return answer.error?.code ?? -1
      })
    } catch (error) {
      const failure = error as { name?: string, status?: number, cause?: { code?: string } }
      const outcome: Outcome = failure.status ?? (failure.name === 'TimeoutError' ? 'hung' : failure.cause?.code === 'ECONNREFUSED' ? 'refused' : 'lost')
      outcomes = logins.map(() => outcome)
    }
    const settledAt = performance.now()
    logins.forEach((login, index) => records.push({ login, outcome: outcomes[index] as Outcome, sentAt, settledAt }))
    return outcomes.every((outcome) => outcome === 'ok')
  }

  const loops = Array.from({ length: clients }, async (_, client) => {
    const batch = client < batchClients
    for (let serial = 0; ; serial++) {
      if (stopping) return
      const logins = Array.from({ length: batch ? BATCH : 1 }, (_, member) => `${prefix}-${client}-${serial}-${member}`)
      if (!await send(logins, batch)) await sleep(20)
    }
  })

  return {
    records,
    acknowledged: async (count, since = 0, timeoutMs = 60_000) => {
      const deadline = performance.now() + timeoutMs
      while (records.filter((record) => record.outcome === 'ok' && record.sentAt >= since).length < count) {
        if (performance.now() > deadline) throw new Error(`fewer than ${count} creates acknowledged within ${timeoutMs} ms; outcomes: ${JSON.stringify(tally(records))}`)
        await sleep(25)
      }
    },
    stop: async () => {
      stopping = true
      await Promise.all(loops)
    },
  }
}

/** How many calls had each outcome. */
export function tally (records: CreateRecord[]): Record<string, number> {
  const counts: Record<string, number> = {}
  for (const { outcome } of records) counts[String(outcome)] = (counts[String(outcome)] ?? 0) + 1
  return counts
}

/** Logins whose creates had one of the given outcomes. */
export const loginsWith = (records: CreateRecord[], ...outcomes: Outcome[]) =>
  new Set(records.filter((record) => outcomes.includes(record.outcome)).map((record) => record.login))
