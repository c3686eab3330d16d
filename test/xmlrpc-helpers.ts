import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { Readable } from 'node:stream'
import pg from 'pg'
import { inject } from 'vitest'
import type { App } from './helpers.js'

/** Debian's Python, whose standard library holds the ServerProxy the old callers use. */
export const PYTHON = '/usr/bin/python3'

export interface XmlAnswer {
  status: number
  headers: Record<string, string | string[] | number | undefined>
  body: string
}

/** Posts an XML-RPC body (text, or raw bytes) to the bridge through app.inject. */
export async function postXml (app: App, body: string | Buffer, headers: Record<string, string> = {}, url = '/'): Promise<XmlAnswer> {
  const response = await app.inject({ method: 'POST', url, headers: { 'content-type': 'text/xml', ...headers }, payload: body })
  return { status: response.statusCode, headers: response.headers, body: response.body }
}

/** A `<methodCall>` whose params are given as `<value>` elements, written out in each test. */
export function methodCall (methodName: string, ...values: string[]): string {
  const params = values.map((value) => `<param>${value}</param>`).join('')
  return `<?xml version="1.0"?><methodCall><methodName>${methodName}</methodName><params>${params}</params></methodCall>`
}

/** A string `<value>`, escaped. */
export const text = (value: string) =>
  `<value><string>${value.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;')}</string></value>`

export const int = (value: number) => `<value><int>${value}</int></value>`

export type Reading = { result: unknown } | { fault: { faultCode: number, faultString: string } }

type DeserializerClass = new () => {
  deserializeMethodResponse: (stream: Readable, done: (error: (Error & { faultCode?: number, faultString?: string }) | null, value: unknown) => void) => void
}
// The npm xmlrpc package's response reader (sax-based): an XML-RPC implementation that is
// not ours, so a test reads answers as a client would, not with the service's own code.
const Deserializer = createRequire(import.meta.url)('xmlrpc/lib/deserializer.js') as DeserializerClass

/** Reads a `<methodResponse>` as the npm xmlrpc client does: a result, or a fault. */
export function readResponse (body: string): Promise<Reading> {
  return new Promise((resolve, reject) => {
    new Deserializer().deserializeMethodResponse(Readable.from([body]), (error, value) => {
      if (error && typeof error.faultCode === 'number') resolve({ fault: { faultCode: error.faultCode, faultString: error.faultString ?? '' } })
      else if (error) reject(error)
      else resolve({ result: value })
    })
  })
}

/** Rows with this login, counted over a connection of its own: what was written, seen from outside. */
export async function countUsers (login: string): Promise<number> {
  const client = new pg.Client({ connectionString: inject('databaseUrl') })
  await client.connect()
  try {
    const { rows } = await client.query<{ n: number }>('SELECT count(*)::int AS n FROM users WHERE login = $1', [login])
    return rows[0]?.n ?? 0
  } finally {
    await client.end()
  }
}

export interface PythonRun {
  code: number | null
  stdout: string
  stderr: string
}

/** Runs a Python script with Debian's python3 and a clean environment; killed after 20 s. */
export async function runPython (script: string, args: string[], env: Record<string, string> = {}): Promise<PythonRun> {
  if (!existsSync(PYTHON)) throw new Error(`${PYTHON} is missing: the XML-RPC caller tests need Debian's python3`)
  const child = spawn(PYTHON, [script, ...args], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000)
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve))
  clearTimeout(timer)
  return { code, stdout, stderr }
}
