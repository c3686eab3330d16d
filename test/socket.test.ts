import { connect } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createUserRpcClient, UserRpcError } from '../src/client.js'
import { buildTestApp, uniqueLogin, type App } from './helpers.js'

let app: App
let url: string
beforeAll(async () => {
  app = await buildTestApp()
  const address = await app.listen({ host: '127.0.0.1', port: 0 })
  url = `${address}/rpc`
})
afterAll(async () => { await app.close() })

describe('over a real TCP socket', () => {
  it('when fetch posts JSON-RPC, then user.create and user.get answer with HTTP 200 and the request id header', async () => {
    const login = uniqueLogin('tcp')
    const created = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': 'trace-123' },
      body: JSON.stringify({ jsonrpc: '2.0', method: 'user.create', params: { login }, id: 1 }),
    })
    expect(created.status).toBe(200)
    expect(created.headers.get('x-request-id')).toBe('trace-123')
    const { result } = await created.json() as { result: { id: number, login: string } }
    expect(result.login).toBe(login)

    const fetched = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', method: 'user.get', params: [result.id], id: 2 }),
    })
    expect(await fetched.json()).toEqual({ jsonrpc: '2.0', id: 2, result })
  })

  it('when a notification is posted, then the socket answers 204 with no body', async () => {
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', method: 'user.get', params: { id: 1 } }),
    })
    expect(response.status).toBe(204)
    expect(await response.text()).toBe('')
  })
})

describe('the typed client', () => {
  it('when used end to end, then results are typed and errors carry code and data', async () => {
    const client = createUserRpcClient({ url })
    const login = uniqueLogin('client')
    const user = await client.call('user.create', { login, firstName: 'Typed' })
    expect(user).toMatchObject({ login, firstName: 'Typed', lastName: null })
    expect(await client.call('user.get', { id: user.id })).toEqual(user)

    const page = await client.call('user.list', { loginPrefix: login })
    expect(page.items.map((item) => item.id)).toEqual([user.id])

    const failure = await client.call('user.create', { login }).catch((error: unknown) => error)
    expect(failure).toBeInstanceOf(UserRpcError)
    expect(failure).toMatchObject({ code: -32009, data: { login } })

    const legacy = await client.call('get_user', { user_id: user.id })
    expect(legacy).toEqual({ user_id: user.id, login, first_name: 'Typed', last_name: null })

    expect(await client.call('user.getByLogin', { login })).toEqual(user)
    const renamed = await client.call('user.update', { id: user.id, lastName: 'Client' })
    expect(renamed).toMatchObject({ id: user.id, firstName: 'Typed', lastName: 'Client' })
    expect(await client.call('user.delete', { id: user.id })).toEqual(renamed)
    await expect(client.call('user.get', { id: user.id })).rejects.toMatchObject({ code: -32004, data: { id: user.id } })

    const original = await client.call('create_user', { login: `${login}-o`.slice(0, 30), first_name: 'Old', last_name: 'Style' })
    expect(original).toMatchObject({ first_name: 'Old', last_name: 'Style' })
    await expect(client.call('user.get', { id: 0 })).rejects.toMatchObject({ code: -32602 })
  })
})

describe('connection timeouts', () => {
  it('when a client opens a socket and sends nothing, then the server closes it after CONNECTION_TIMEOUT_MS', async () => {
    const idle = await buildTestApp({ CONNECTION_TIMEOUT_MS: '300' })
    try {
      const { port } = new URL(await idle.listen({ host: '127.0.0.1', port: 0 }))
      const socket = connect(Number(port), '127.0.0.1')
      const opened = performance.now()
      await new Promise<void>((resolve, reject) => {
        socket.once('close', () => resolve())
        socket.once('error', reject)
        setTimeout(() => reject(new Error('the idle socket was not closed within 5 s')), 5000)
      })
      expect(performance.now() - opened).toBeGreaterThanOrEqual(250)
    } finally {
      await idle.close()
    }
  })
})
