import { randomBytes } from 'node:crypto'
import { pino } from 'pino'
import { inject } from 'vitest'
import { buildApp } from '../src/app.js'
import { loadConfig } from '../src/config.js'

export type App = Awaited<ReturnType<typeof buildApp>>

/** A service instance on the test database; `env` overrides configuration variables. */
export async function buildTestApp (env: Record<string, string> = {}): Promise<App> {
  const databaseUrl = inject('databaseUrl')
  const config = loadConfig({ NODE_ENV: 'test', DATABASE_URL: databaseUrl, ...env })
  const app = await buildApp({ config, databaseUrl, ...(process.env.TEST_LOG ? { logger: pino({ level: 'debug' }) } : {}) })
  await app.ready()
  return app
}

/** A login no other test uses: tests share one database and run in parallel. */
export function uniqueLogin (prefix = 'u'): string {
  return `${prefix}-${randomBytes(6).toString('hex')}`.slice(0, 30)
}

/** One JSON-RPC call through app.inject; returns the parsed body. */
export async function call (app: App, method: string, params?: unknown, id: number | string = 1) {
  const response = await app.inject({
    method: 'POST',
    url: '/rpc',
    headers: { 'content-type': 'application/json' },
    payload: JSON.stringify({ jsonrpc: '2.0', method, ...(params === undefined ? {} : { params }), id }),
  })
  return { status: response.statusCode, body: response.body ? JSON.parse(response.body) : null }
}

/** Posts a raw body (any JSON text, valid or not) and returns status, headers and parsed body. */
export async function post (app: App, body: string, headers: Record<string, string> = {}) {
  const response = await app.inject({
    method: 'POST',
    url: '/rpc',
    headers: { 'content-type': 'application/json', ...headers },
    payload: body,
  })
  return {
    status: response.statusCode,
    headers: response.headers,
    body: response.body ? JSON.parse(response.body) : null,
  }
}
