import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { userSchema } from '../src/users/user-schemas.js'
import { buildTestApp, call, type TestApp } from './support/clients.js'
import { countUsers, query, uniqueLogin, waitFor } from './support/database.js'

/** README, API, and docs/api.md, Methods: the user methods, the original service's two, and params validation. */

let app: TestApp
beforeAll(async () => { app = await buildTestApp() })
afterAll(async () => { await app.close() })

type User = { id: number, login: string, firstName: string | null, lastName: string | null, createdAt: string, updatedAt: string }

async function createUser (login = uniqueLogin(), names: { firstName?: string | null, lastName?: string | null } = {}): Promise<User> {
  const { body } = await call(app, 'user.create', { login, ...names })
  if (!body.result) throw new Error(`create failed: ${JSON.stringify(body)}`)
  return body.result as User
}

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
    await createUser(login)
    const { body } = await call(app, 'user.create', { login, firstName: 'Other' })
    expect(body.error).toEqual({ code: -32009, message: 'Login already taken', data: { login } })
    expect(await countUsers(login)).toBe(1)
  })
})

describe('params validation', () => {
  const cases: Array<{ when: string, method: string, params: unknown, paths: unknown[] }> = [
    { when: 'login is missing', method: 'user.create', params: {}, paths: [['login']] },
    { when: 'login is empty', method: 'user.create', params: { login: '' }, paths: [['login']] },
    { when: 'login is blank', method: 'user.create', params: { login: '   ' }, paths: [['login']] },
    { when: 'login has NUL', method: 'user.create', params: { login: 'a\u0000b' }, paths: [['login']] },
    { when: 'login has a newline', method: 'user.create', params: { login: 'a\nb' }, paths: [['login']] },
    { when: 'login is 31 characters', method: 'user.create', params: { login: 'x'.repeat(31) }, paths: [['login']] },
    { when: 'login has a lone surrogate', method: 'user.create', params: { login: 'a\ud800' }, paths: [['login']] },
    { when: 'login is a number', method: 'user.create', params: { login: 5 }, paths: [['login']] },
    { when: 'a name is 31 characters', method: 'user.create', params: { login: 'ok-name', firstName: 'y'.repeat(31) }, paths: [['firstName']] },
    { when: 'a name has NUL', method: 'user.create', params: { login: 'ok-name', lastName: '\u0000' }, paths: [['lastName']] },
    { when: 'a param is unknown', method: 'user.create', params: { login: 'ok-name', age: 3 }, paths: [['age']] },
    { when: 'every field is bad', method: 'user.create', params: { login: '', firstName: 1, lastName: [], extra: true }, paths: [['login'], ['firstName'], ['lastName'], ['extra']] },
    { when: 'too many positional params', method: 'user.create', params: ['a', 'b', 'c', 'd', 'e'], paths: [[]] },
    { when: 'id is a string', method: 'user.get', params: { id: '1' }, paths: [['id']] },
    { when: 'id is 0', method: 'user.get', params: { id: 0 }, paths: [['id']] },
    { when: 'id is a fraction', method: 'user.get', params: { id: 1.5 }, paths: [['id']] },
    { when: 'id is past int4', method: 'user.get', params: { id: 2147483648 }, paths: [['id']] },
    { when: 'id is huge', method: 'user.get', params: [1e300], paths: [['id']] },
    { when: 'update changes nothing', method: 'user.update', params: { id: 1 }, paths: [[]] },
    { when: 'limit is 0', method: 'user.list', params: { limit: 0 }, paths: [['limit']] },
    { when: 'limit is 101', method: 'user.list', params: { limit: 101 }, paths: [['limit']] },
    { when: 'the cursor is forged', method: 'user.list', params: { cursor: 'not-a-cursor' }, paths: [['cursor']] },
    { when: 'the cursor encodes a non-id', method: 'user.list', params: { cursor: Buffer.from('v1:-5').toString('base64url') }, paths: [['cursor']] },
    { when: 'get_user gets a string', method: 'get_user', params: ['7'], paths: [['user_id']] },
  ]

  it.each(cases)('when $when, then -32602 names exactly the bad fields', async ({ method, params, paths }) => {
    const { body } = await call(app, method, params)
    expect(body.error.code).toBe(-32602)
    expect(body.error.message).toBe('Invalid params')
    const reported = body.error.data.issues.map((issue: { path: unknown[] }) => issue.path)
    expect(new Set(reported.map(String))).toEqual(new Set(paths.map(String)))
    for (const issue of body.error.data.issues) expect(typeof issue.message).toBe('string')
  })

  it('when a login is 30 characters beyond the BMP, then it is stored whole (PostgreSQL counts characters)', async () => {
    const login = '😀'.repeat(24) + uniqueLogin('').slice(1, 7)
    expect(login.length).toBe(54)
    const { body } = await call(app, 'user.create', { login })
    expect(body.result.login).toBe(login)
    expect(await countUsers(login)).toBe(1)
  })
})

describe('named and positional params', () => {
  it('when the same call is made by name and by position, then both give the same answer', async () => {
    const user = await createUser()
    const byName = await call(app, 'user.get', { id: user.id })
    const byPosition = await call(app, 'user.get', [user.id])
    expect(byPosition.body).toEqual(byName.body)

    const a = await call(app, 'user.create', { login: uniqueLogin(), firstName: 'F', lastName: 'L' })
    const b = await call(app, 'user.create', [uniqueLogin(), 'F', 'L'])
    expect(a.body.result).toMatchObject({ firstName: 'F', lastName: 'L' })
    expect(b.body.result).toMatchObject({ firstName: 'F', lastName: 'L' })
  })
})

describe('user.getByLogin', () => {
  it('when the login exists, then the user comes back; when not, -32004 with the login', async () => {
    const user = await createUser()
    expect((await call(app, 'user.getByLogin', { login: user.login })).body.result).toEqual(user)
    const missing = uniqueLogin('missing')
    expect((await call(app, 'user.getByLogin', { login: missing })).body.error)
      .toEqual({ code: -32004, message: 'User not found', data: { login: missing } })
  })
})

describe('user.update', () => {
  it('when names change, then they are stored and updatedAt moves forward', async () => {
    const user = await createUser(uniqueLogin(), { firstName: 'Old', lastName: 'Name' })
    // Timestamps have millisecond precision: an update in the same millisecond could not move it.
    await waitFor('the clock to pass the creation time', () => Date.now() > Date.parse(user.updatedAt) ? true : undefined, 1)
    const { body } = await call(app, 'user.update', { id: user.id, firstName: 'New' })
    expect(body.result).toMatchObject({ id: user.id, login: user.login, firstName: 'New', lastName: 'Name' })
    expect(Date.parse(body.result.updatedAt)).toBeGreaterThan(Date.parse(user.updatedAt))
    expect(body.result.createdAt).toBe(user.createdAt)
  })

  it('when a name is null, then it is cleared', async () => {
    const user = await createUser(uniqueLogin(), { firstName: 'A', lastName: 'B' })
    const { body } = await call(app, 'user.update', { id: user.id, lastName: null })
    expect(body.result).toMatchObject({ firstName: 'A', lastName: null })
  })

  it('when the new login is taken, then -32009 and the user is unchanged', async () => {
    const other = await createUser()
    const user = await createUser()
    const { body } = await call(app, 'user.update', { id: user.id, login: other.login, firstName: 'Changed' })
    expect(body.error).toEqual({ code: -32009, message: 'Login already taken', data: { login: other.login } })
    expect((await call(app, 'user.get', { id: user.id })).body.result).toEqual(user)
  })

  it('when the user does not exist, then -32004', async () => {
    const { body } = await call(app, 'user.update', { id: 2147483640, firstName: 'x' })
    expect(body.error).toEqual({ code: -32004, message: 'User not found', data: { id: 2147483640 } })
  })
})

describe('user.delete', () => {
  it('when the user exists, then the deleted user comes back and is gone; a second delete is -32004', async () => {
    const user = await createUser()
    expect((await call(app, 'user.delete', { id: user.id })).body.result).toEqual(user)
    expect(await countUsers(user.login)).toBe(0)
    expect((await call(app, 'user.get', { id: user.id })).body.error.code).toBe(-32004)
    expect((await call(app, 'user.delete', [user.id])).body.error).toEqual({ code: -32004, message: 'User not found', data: { id: user.id } })
  })
})

describe('user.list', () => {
  it('when paging with a prefix, then every user comes once, in id order, and the last page has no cursor', async () => {
    const prefix = uniqueLogin('ls').slice(0, 12)
    const created = []
    for (let i = 0; i < 5; i++) created.push(await createUser(`${prefix}-${i}`))

    const seen: number[] = []
    let cursor: string | undefined
    let pages = 0
    do {
      const { body } = await call(app, 'user.list', { limit: 2, loginPrefix: prefix, ...(cursor ? { cursor } : {}) })
      seen.push(...body.result.items.map((user: { id: number }) => user.id))
      cursor = body.result.nextCursor ?? undefined
      pages++
      // Rows inserted mid-listing land after the cursor and never shift earlier pages.
      if (pages === 1) created.push(await createUser(`${prefix}-late`))
    } while (cursor)

    expect(seen).toEqual(created.map((user) => user.id))
    expect(pages).toBe(3)
  })

  it('when the prefix holds LIKE wildcards, then they match literally', async () => {
    const base = uniqueLogin('wc').slice(0, 12)
    const literal = await createUser(`${base}_%x`)
    await createUser(`${base}ab`)
    const { body } = await call(app, 'user.list', { loginPrefix: `${base}_%` })
    expect(body.result.items.map((user: { id: number }) => user.id)).toEqual([literal.id])
  })

  it('when no limit is given and more than 20 users match, then exactly the first 20 come back, with a cursor to the rest', async () => {
    const prefix = uniqueLogin('page').slice(0, 14)
    const rows = await query<{ id: number }>(
      "INSERT INTO users (login, updated_at) SELECT $1 || '-' || n, now() FROM generate_series(1, 21) AS n RETURNING id", [prefix])
    const ids = rows.map((row) => row.id).sort((a, b) => a - b)

    const first = (await call(app, 'user.list', { loginPrefix: prefix })).body.result
    expect(first.items.map((user: { id: number }) => user.id)).toEqual(ids.slice(0, 20))
    const rest = (await call(app, 'user.list', { loginPrefix: prefix, cursor: first.nextCursor })).body.result
    expect(rest).toEqual({ items: [expect.objectContaining({ id: ids[20] })], nextCursor: null })
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
