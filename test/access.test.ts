import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createKeyring } from '../src/plugins/api-keys.js'
import { buildTestApp, fetchRpc, listen, request, type TestApp } from './support/clients.js'
import { countUsers, uniqueLogin } from './support/database.js'

/**
 * docs/operations.md, Access control (API keys and their scopes). What the typed client does
 * with a refusal is in client.test.ts; that health routes need no key, in health.test.ts.
 */

const WRITER = 'writer-secret-0123456789abcdef'
const READER = 'reader-secret-0123456789abcdef'

let app: TestApp
let url: string
beforeAll(async () => {
  app = await buildTestApp({ API_KEYS: `billing:write:${WRITER}, reports:read:${READER}` })
  url = `${await listen(app)}/rpc`
})
afterAll(async () => { await app.close() })

const rpc = (body: unknown, key?: string) => fetchRpc(url, body, key === undefined ? {} : { authorization: `Bearer ${key}` })

describe('API keys over a real socket', () => {
  it.each([
    ['no Authorization header', undefined],
    ['an unknown key', 'not-a-key-0123456789abcdef'],
    ['a key that is one character short', WRITER.slice(0, -1)],
    ['an empty bearer', ''],
  ])('when the request has %s, then HTTP 401 with a -32001 JSON-RPC body and nothing is written', async (_case, key) => {
    const login = uniqueLogin('noauth')
    const { status, body } = await rpc(request('user.create', { login }, 1), key)
    expect(status).toBe(401)
    expect(body).toEqual({ jsonrpc: '2.0', id: null, error: { code: -32001, message: 'Unauthorized: send Authorization: Bearer <API key>' } })
    expect(await countUsers(login)).toBe(0)
  })

  it('when a read-write key writes, then the call succeeds', async () => {
    const login = uniqueLogin('writer')
    const { status, body } = await rpc(request('user.create', { login }, 1), WRITER)
    expect(status).toBe(200)
    expect(body.result.login).toBe(login)
    expect(await countUsers(login)).toBe(1)
  })

  it('when a read-only key reads, then it succeeds; when it writes, then -32003 for that call only', async () => {
    const login = uniqueLogin('reader')
    await rpc(request('user.create', { login }, 1), WRITER)
    const denied = uniqueLogin('denied')
    const { status, body } = await rpc([
      request('user.getByLogin', { login }, 'read'),
      request('user.create', { login: denied }, 'write'),
      request('rpc.discover', undefined, 'discover'),
    ], READER)
    expect(status).toBe(200)
    const byId = Object.fromEntries(body.map((reply: { id: string }) => [reply.id, reply]))
    expect(byId.read.result.login).toBe(login)
    expect(byId.write.error).toEqual({ code: -32003, message: 'Forbidden: this API key is read-only' })
    expect(byId.discover.result.openrpc).toMatch(/^1\./)
    expect(await countUsers(denied)).toBe(0)
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
