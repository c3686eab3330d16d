import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createUserRpcClient } from '../src/client.js'
import { createKeyring } from '../src/plugins/api-keys.js'
import { buildTestApp, uniqueLogin, type App } from './helpers.js'

const WRITER = 'writer-secret-0123456789abcdef'
const READER = 'reader-secret-0123456789abcdef'

let app: App
let url: string
beforeAll(async () => {
  app = await buildTestApp({ API_KEYS: `billing:write:${WRITER}, reports:read:${READER}` })
  url = `${await app.listen({ host: '127.0.0.1', port: 0 })}/rpc`
})
afterAll(async () => { await app.close() })

async function rpc (body: unknown, key?: string): Promise<{ status: number, headers: Headers, body: any }> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(key === undefined ? {} : { authorization: `Bearer ${key}` }) },
    body: JSON.stringify(body),
  })
  return { status: response.status, headers: response.headers, body: response.status === 204 ? null : await response.json() }
}

const create = (login: string, id = 1) => ({ jsonrpc: '2.0', method: 'user.create', params: { login }, id })

describe('API keys over a real socket', () => {
  it.each([
    ['no Authorization header', undefined],
    ['an unknown key', 'not-a-key-0123456789abcdef'],
    ['a key that is one character short', WRITER.slice(0, -1)],
    ['an empty bearer', ''],
  ])('when the request has %s, then HTTP 401 with a -32001 JSON-RPC body and nothing is written', async (_case, key) => {
    const login = uniqueLogin('noauth')
    const { status, body } = await rpc(create(login), key)
    expect(status).toBe(401)
    expect(body).toEqual({ jsonrpc: '2.0', id: null, error: { code: -32001, message: 'Unauthorized: send Authorization: Bearer <API key>' } })
    expect(await app.db.user.count({ where: { login } })).toBe(0)
  })

  it('when a read-write key writes, then the call succeeds', async () => {
    const login = uniqueLogin('writer')
    const { status, body } = await rpc(create(login), WRITER)
    expect(status).toBe(200)
    expect(body.result.login).toBe(login)
  })

  it('when a read-only key reads, then it succeeds; when it writes, then -32003 for that call only', async () => {
    const login = uniqueLogin('reader')
    await rpc(create(login), WRITER)
    const batch = [
      { jsonrpc: '2.0', method: 'user.getByLogin', params: { login }, id: 'read' },
      { ...create(uniqueLogin('denied')), id: 'write' },
      { jsonrpc: '2.0', method: 'rpc.discover', id: 'discover' },
    ]
    const { status, body } = await rpc(batch, READER)
    expect(status).toBe(200)
    const byId = Object.fromEntries(body.map((reply: { id: string }) => [reply.id, reply]))
    expect(byId.read.result.login).toBe(login)
    expect(byId.write.error).toEqual({ code: -32003, message: 'Forbidden: this API key is read-only' })
    expect(byId.discover.result.openrpc).toMatch(/^1\./)
    expect(await app.db.user.count({ where: { login: batch[1]?.params?.login as string } })).toBe(0)
  })

  it('when the typed client has no key or a read-only one, then it rejects with -32001 or -32003', async () => {
    await expect(createUserRpcClient({ url }).call('user.list', {})).rejects.toMatchObject({ code: -32001 })
    const reader = createUserRpcClient({ url, apiKey: READER })
    expect((await reader.call('user.list', { limit: 1 })).items.length).toBeLessThanOrEqual(1)
    await expect(reader.call('user.create', { login: uniqueLogin('ro') })).rejects.toMatchObject({ code: -32003 })
  })

  it('when the service has keys, then /healthz and /readyz still need none', async () => {
    const base = url.replace(/\/rpc$/, '')
    expect((await fetch(`${base}/healthz`)).status).toBe(200)
    expect((await fetch(`${base}/readyz`)).status).toBe(200)
  })
})

describe('the keyring', () => {
  it('when a key is presented, then only an exact match names its id and scope', () => {
    const find = createKeyring([{ id: 'a', scope: 'write', secret: WRITER }, { id: 'b', scope: 'read', secret: READER }])
    expect(find(WRITER)).toEqual({ keyId: 'a', scope: 'write' })
    expect(find(READER)).toEqual({ keyId: 'b', scope: 'read' })
    expect(find(`${WRITER} `)).toBeUndefined()
    expect(find(WRITER.toUpperCase())).toBeUndefined()
  })
})

describe('rate limits', () => {
  it('when the limits are left at their defaults, then one address sending many calls is never throttled', async () => {
    const open = await buildTestApp({ API_KEYS: `billing:write:${WRITER}` })
    try {
      const statuses = new Set<number>()
      // Far past what a limit of a few per window would allow, from one address and one key.
      for (let i = 0; i < 300; i++) {
        const response = await open.inject({
          method: 'POST',
          url: '/rpc',
          remoteAddress: '10.9.8.6',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${WRITER}` },
          payload: { jsonrpc: '2.0', method: 'rpc.discover', id: i },
        })
        statuses.add(response.statusCode)
      }
      expect([...statuses]).toEqual([200])
    } finally {
      await open.close()
    }
  })

  it('when one key goes past its limit, then HTTP 429 with Retry-After and a -32029 body; another key is unaffected', async () => {
    const limited = await buildTestApp({
      API_KEYS: `billing:write:${WRITER},reports:read:${READER}`,
      RATE_LIMIT_PER_KEY: '3',
      RATE_LIMIT_WINDOW_MS: '60000',
    })
    try {
      const send = (key: string) => limited.inject({
        method: 'POST',
        url: '/rpc',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
        payload: { jsonrpc: '2.0', method: 'user.list', params: { limit: 1 }, id: 1 },
      })
      for (let i = 0; i < 3; i++) expect((await send(READER)).statusCode).toBe(200)
      const refused = await send(READER)
      expect(refused.statusCode).toBe(429)
      expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0)
      expect(refused.json()).toEqual({ jsonrpc: '2.0', id: null, error: { code: -32029, message: 'Too many requests', data: { retryAfterSeconds: expect.any(Number) } } })
      expect((await send(WRITER)).statusCode).toBe(200)
    } finally {
      await limited.close()
    }
  })

  it('when one address goes past its limit, then even unauthenticated attempts get 429 before the key check', async () => {
    const limited = await buildTestApp({ API_KEYS: `billing:write:${WRITER}`, RATE_LIMIT_PER_IP: '2' })
    try {
      const send = (key: string) => limited.inject({
        method: 'POST',
        url: '/rpc',
        remoteAddress: '10.9.8.7',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
        payload: { jsonrpc: '2.0', method: 'user.list', id: 1 },
      })
      expect((await send('guess-1-0123456789abcdef')).statusCode).toBe(401)
      expect((await send('guess-2-0123456789abcdef')).statusCode).toBe(401)
      const refused = await send(WRITER)
      expect(refused.statusCode).toBe(429)
      expect(refused.json().error.code).toBe(-32029)
    } finally {
      await limited.close()
    }
  })
})
