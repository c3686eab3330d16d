import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { userSchema } from '../src/users/user-schemas.js'
import { buildTestApp, call, uniqueLogin, type App } from './helpers.js'

let app: App
beforeAll(async () => { app = await buildTestApp() })
afterAll(async () => { await app.close() })

describe('user.create and user.get', () => {
  it('when a user is created, then user.get returns the same user', async () => {
    const login = uniqueLogin('ada')
    const created = await call(app, 'user.create', { login, firstName: 'Ada', lastName: 'Lovelace' })
    expect(created.status).toBe(200)
    expect(userSchema.parse(created.body.result)).toMatchObject({ login, firstName: 'Ada', lastName: 'Lovelace' })

    const fetched = await call(app, 'user.get', { id: created.body.result.id })
    expect(fetched.body).toEqual({ jsonrpc: '2.0', id: 1, result: created.body.result })
  })

  it('when names are left out, then they are null', async () => {
    const login = uniqueLogin()
    const { body } = await call(app, 'user.create', { login })
    expect(body.result).toMatchObject({ login, firstName: null, lastName: null })
  })

  it('when the id does not exist, then user.get is error -32004 with the id', async () => {
    const { body } = await call(app, 'user.get', { id: 2_147_483_647 })
    expect(body.error).toEqual({ code: -32004, message: 'User not found', data: { id: 2_147_483_647 } })
    expect(body).not.toHaveProperty('result')
  })

  it('when the login is taken, then user.create is error -32009 and no second row exists', async () => {
    const login = uniqueLogin()
    await call(app, 'user.create', { login })
    const { body } = await call(app, 'user.create', { login, firstName: 'Other' })
    expect(body.error).toEqual({ code: -32009, message: 'Login already taken', data: { login } })
    expect(await app.db.user.count({ where: { login } })).toBe(1)
  })
})

describe('the original service\'s create_user and get_user', () => {
  it('when called with positional params, then they answer in the original shape', async () => {
    const login = uniqueLogin('legacy')
    const created = await call(app, 'create_user', [login, 'Grace', 'Hopper'])
    expect(created.body.result).toEqual({ user_id: expect.any(Number), login, first_name: 'Grace', last_name: 'Hopper' })

    const fetched = await call(app, 'get_user', [created.body.result.user_id])
    expect(fetched.body.result).toEqual(created.body.result)

    const modern = await call(app, 'user.get', { id: created.body.result.user_id })
    expect(modern.body.result).toMatchObject({ login, firstName: 'Grace', lastName: 'Hopper' })
  })

  it('when the user does not exist, then get_user says "No such user"', async () => {
    const { body } = await call(app, 'get_user', [2_147_483_646])
    expect(body.error).toEqual({ code: -32004, message: 'No such user', data: { id: 2_147_483_646 } })
  })
})
