import { connect } from 'node:net'
import { ErrorCode } from '../src/rpc/errors.js'

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

/** The transport refusals the README documents, each with a JSON-RPC error body (id null). */
export const REFUSAL_STATUSES = new Set([400, 405, 408, 413, 415, 431])

/**
 * Why an HTTP answer to a POST on /rpc is not one the README allows, or null: 200 with a
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
