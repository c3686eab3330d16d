import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createUserRpcClient, UserRpcError } from '@user-rpc/client'
import { buildTestApp, listen, type TestApp } from './support/clients.js'
import { countUsers, uniqueLogin } from './support/database.js'

/** docs/api.md, TypeScript client (packages/client, @user-rpc/client), against the service over a real socket. */

const WRITER = 'writer-secret-0123456789abcdef'
const READER = 'reader-secret-0123456789abcdef'

const apps: TestApp[] = []
afterAll(async () => { for (const app of apps) await app.close() })
async function serve (env: Record<string, string>): Promise<string> {
  const app = await buildTestApp(env)
  apps.push(app)
  return `${await listen(app)}/rpc`
}

let url: string
beforeAll(async () => { url = await serve({ API_KEYS: `billing:write:${WRITER},reports:read:${READER}`, RPC_BODY_LIMIT_BYTES: '2048' }) })

describe('the typed client', () => {
  it('when used end to end, then results are typed and errors carry code and data', async () => {
    const client = createUserRpcClient({ url, apiKey: WRITER })
    const login = uniqueLogin('client')
    const user = await client.call('user.create', { login, firstName: 'Typed' })
    expect(user).toMatchObject({ login, firstName: 'Typed', lastName: null })
    expect(await client.call('user.get', { id: user.id })).toEqual(user)

    const page = await client.call('user.list', { loginPrefix: login })
    expect(page).toEqual({ items: [user], nextCursor: null })

    const failure = await client.call('user.create', { login }).catch((error: unknown) => error)
    expect(failure).toBeInstanceOf(UserRpcError)
    expect(failure).toMatchObject({ code: -32009, message: 'Login already taken', data: { login } })

    expect(await client.call('get_user', { user_id: user.id })).toEqual({ user_id: user.id, login, first_name: 'Typed', last_name: null })
    expect(await client.call('user.getByLogin', { login })).toEqual(user)
    const renamed = await client.call('user.update', { id: user.id, lastName: 'Client' })
    expect(renamed).toMatchObject({ id: user.id, firstName: 'Typed', lastName: 'Client' })
    expect(await client.call('user.delete', { id: user.id })).toEqual(renamed)
    await expect(client.call('user.get', { id: user.id })).rejects.toMatchObject({ code: -32004, data: { id: user.id } })

    const original = await client.call('create_user', { login: `${login}-o`.slice(0, 30), first_name: 'Old', last_name: 'Style' })
    expect(original).toMatchObject({ first_name: 'Old', last_name: 'Style' })
    await expect(client.call('user.get', { id: 0 })).rejects.toMatchObject({ code: -32602 })
  })

  it('when the client has no key or a read-only one, then it rejects with -32001 or -32003', async () => {
    await expect(createUserRpcClient({ url }).call('user.list', {})).rejects.toMatchObject({ code: -32001 })
    const reader = createUserRpcClient({ url, apiKey: READER })
    const login = uniqueLogin('ro')
    await createUserRpcClient({ url, apiKey: WRITER }).call('user.create', { login })
    expect((await reader.call('user.list', { limit: 1, loginPrefix: login })).items).toEqual([expect.objectContaining({ login })])
    const denied = uniqueLogin('ro')
    await expect(reader.call('user.create', { login: denied })).rejects.toMatchObject({ code: -32003 })
    expect(await countUsers(denied)).toBe(0)
  })

  it('when the service refuses at the HTTP level (413, 429), then the client rejects with the body\'s code and data', async () => {
    const client = createUserRpcClient({ url, apiKey: WRITER })
    await expect(client.call('user.create', { login: uniqueLogin('big'), firstName: 'x'.repeat(3000) }))
      .rejects.toMatchObject({ name: 'UserRpcError', code: -32600, message: 'Request body too large', data: { reason: 'the body is over 2048 bytes' } })

    const limited = createUserRpcClient({ url: await serve({ API_KEYS: `billing:write:${WRITER}`, RATE_LIMIT_PER_KEY: '1' }), apiKey: WRITER })
    await limited.call('user.list', { limit: 1 })
    await expect(limited.call('user.list', { limit: 1 })).rejects.toMatchObject({ code: -32029, data: { retryAfterSeconds: expect.any(Number) } })
  })
})
